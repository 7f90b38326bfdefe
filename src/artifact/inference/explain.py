"""Occlusion-sensitivity heatmaps, computed with the LiteRT model itself (no TensorFlow).

A grey patch slides over the image the model sees (the canonical square, or for the native view
the whole image at its served scale, whose crops decide); where covering it lowers P(AI) the
most, the model saw the most AI evidence. Model-agnostic, and bounded in cost: the grid is
chosen so that at most ``max_evaluations`` crops are scored.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image

from artifact.inference.engine import Predictor
from artifact.inference.preprocess import (
    aggregate,
    canonicalize,
    clip_aspect,
    crop_boxes,
    model_views,
    native_short_side,
    prediction_crops,
    resize_short_side,
)

GREY = 127.0
# A perceptually ordered colour ramp (dark blue -> red -> yellow), for the overlay.
_RAMP = np.array([[0, 0, 64], [70, 20, 140], [190, 40, 90], [245, 120, 30], [255, 230, 60]], np.float32)


@dataclass
class Heatmap:
    """``sensitivity[i, j]``: drop in P(AI) when grid cell (i, j) is covered (may be negative)."""

    sensitivity: np.ndarray
    prob_ai: float
    evaluations: int
    # What the grid covers: the image's centre square (canonical view) or all of it (native).
    whole_image: bool = False


def occlusion_map(predictor: Predictor, image: Image.Image, max_evaluations: int = 192) -> Heatmap:
    """Occlusion sensitivity of P(AI) over the canonical image of ``image``."""
    if not predictor.card.detects_ai:
        raise ValueError("heatmaps explain P(AI); this model does not detect AI")
    config = predictor.card.preprocess
    if config.view == "native":
        return _native_occlusion_map(predictor, image, max_evaluations)
    canonical = canonicalize(image, config).astype(np.float32)
    boxes = crop_boxes(config)
    cells = max(4, int(np.sqrt(max_evaluations / len(boxes))))
    edges = np.linspace(0, config.canonical_size, cells + 1).round().astype(int)
    uncovered = _crop_prob_ai(predictor, prediction_crops(canonical, config))
    per_cell = np.tile(uncovered, (cells * cells, 1))
    scored = 0

    def score(batch: list[tuple[int, int, np.ndarray]]) -> None:
        probs = _crop_prob_ai(predictor, np.stack([crop for _, _, crop in batch]))
        for (cell, index, _), prob in zip(batch, probs, strict=True):
            per_cell[cell, index] = prob

    # Scored a few crops at a time: every occlusion's crops at once were ~110 MB.
    batch = []
    for item in _greyed_crops(canonical, boxes, config.input_size, edges):
        batch.append(item)
        scored += 1
        if len(batch) == OCCLUSION_BATCH_CROPS:
            score(batch)
            batch = []
    if batch:
        score(batch)
    base = float(uncovered.mean())
    covered = per_cell.mean(axis=1).reshape(cells, cells)
    return Heatmap(sensitivity=base - covered, prob_ai=base, evaluations=len(boxes) + scored)


def _greyed_crops(canonical: np.ndarray, boxes: list[tuple[int, int]], side: int, edges: np.ndarray):
    """(cell, crop index, the crop with that cell greyed) for every crop the cell reaches.

    A crop the grey cell does not reach scores as it did uncovered, so only the crops it
    reaches are scored again: the same map for about a quarter less work with five crops.
    """
    cells = len(edges) - 1
    for cell in range(cells * cells):
        top, bottom = edges[cell // cells], edges[cell // cells + 1]
        left, right = edges[cell % cells], edges[cell % cells + 1]
        for index, (y, x) in enumerate(boxes):
            if top < y + side and bottom > y and left < x + side and right > x:
                crop = canonical[y : y + side, x : x + side].copy()
                crop[max(top - y, 0) : bottom - y, max(left - x, 0) : right - x] = GREY
                yield cell, index, crop


def _native_occlusion_map(predictor: Predictor, image: Image.Image, max_evaluations: int) -> Heatmap:
    """Occlusion over the whole image at its served scale: the very crops that decided, each
    scored again with one grid cell greyed (the whole view is made from the same image)."""
    config = predictor.card.preprocess
    image = clip_aspect(image.convert("RGB"))
    scaled = resize_short_side(image, native_short_side(image.size, config))
    pixels = np.asarray(scaled, dtype=np.uint8)
    views = model_views(scaled, config)
    per_image = len(views)
    cells = max(2, int(np.sqrt(max_evaluations / per_image - 1)))
    rows = np.linspace(0, scaled.height, cells + 1).round().astype(int)
    cols = np.linspace(0, scaled.width, cells + 1).round().astype(int)
    scores = [_native_prob_ai(predictor, views)]
    for i in range(cells):
        for j in range(cells):
            copy = pixels.copy()
            copy[rows[i] : rows[i + 1], cols[j] : cols[j + 1]] = int(GREY)
            scores.append(_native_prob_ai(predictor, model_views(Image.fromarray(copy), config)))
    base, covered = scores[0], np.array(scores[1:]).reshape(cells, cells)
    return Heatmap(
        sensitivity=base - covered, prob_ai=base, evaluations=len(scores) * per_image, whole_image=True
    )


def _native_prob_ai(predictor: Predictor, views: np.ndarray) -> float:
    return float(1.0 - aggregate(predictor.model.predict(views), predictor.card.preprocess)[0])


def _crop_prob_ai(predictor: Predictor, crops: np.ndarray) -> np.ndarray:
    """P(AI) of each crop (the canonical view's verdict is their mean)."""
    return 1.0 - predictor.model.predict(crops)[:, 0]


# At most this many crops are held and scored at once (32 x 224² x 3 float32: ~19 MB).
OCCLUSION_BATCH_CROPS = 32
# What a heatmap holds beyond its decoded image: a batch of crops, the canonical image and the
# overlay (a 768² RGB float blend), with margin.
HEATMAP_WORKING_BYTES = 64 * 1024 * 1024


def overlay_png(image: Image.Image, heatmap: Heatmap, opacity: float = 0.55) -> bytes:
    """The image as the model saw it (its centre square, or all of it for the native view) with
    the heatmap blended on top."""
    image = image.convert("RGB")
    if heatmap.whole_image:
        shown = clip_aspect(image)
        scale = min(1.0, 768 / max(shown.size))
        size = (max(1, round(shown.width * scale)), max(1, round(shown.height * scale)))
    else:
        config_side = min(image.size)
        left, top = (image.width - config_side) // 2, (image.height - config_side) // 2
        shown = image.crop((left, top, left + config_side, top + config_side))
        side = min(config_side, 768)
        size = (side, side)
    square = shown.resize(size, Image.Resampling.BICUBIC)
    positive = np.clip(heatmap.sensitivity, 0, None)
    scale = positive.max()
    normalised = positive / scale if scale > 1e-6 else np.zeros_like(positive)
    small = Image.fromarray((normalised * 255).astype(np.uint8), "L")
    smooth = np.asarray(small.resize(size, Image.Resampling.BICUBIC), np.float32) / 255.0
    colours = _colourise(smooth)
    alpha = (opacity * np.clip(smooth * 1.5, 0, 1))[..., None]
    blended = np.asarray(square, np.float32) * (1 - alpha) + colours * alpha
    buffer = io.BytesIO()
    Image.fromarray(blended.clip(0, 255).astype(np.uint8)).save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


def _colourise(values: np.ndarray) -> np.ndarray:
    positions = values * (len(_RAMP) - 1)
    low = np.floor(positions).astype(int).clip(0, len(_RAMP) - 2)
    fraction = (positions - low)[..., None]
    return _RAMP[low] * (1 - fraction) + _RAMP[low + 1] * fraction
