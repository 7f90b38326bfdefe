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
    crops_per_image = len(prediction_crops(canonical.astype(np.uint8), config))
    cells = max(4, int(np.sqrt(max_evaluations / crops_per_image)))
    size = config.canonical_size
    edges = np.linspace(0, size, cells + 1).round().astype(int)
    # Scored a few occlusions at a time: the crops of every occlusion at once were ~110 MB.
    scores = [_prob_ai(predictor, [prediction_crops(canonical, config)], crops_per_image)]
    pending = []
    for i in range(cells):
        for j in range(cells):
            copy = canonical.copy()
            copy[edges[i] : edges[i + 1], edges[j] : edges[j + 1]] = GREY
            pending.append(prediction_crops(copy, config))
            if len(pending) * crops_per_image >= OCCLUSION_BATCH_CROPS:
                scores.append(_prob_ai(predictor, pending, crops_per_image))
                pending = []
    if pending:
        scores.append(_prob_ai(predictor, pending, crops_per_image))
    prob_ai = np.concatenate(scores)
    base, covered = float(prob_ai[0]), prob_ai[1:].reshape(cells, cells)
    return Heatmap(sensitivity=base - covered, prob_ai=base, evaluations=len(prob_ai) * crops_per_image)


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


def _prob_ai(predictor: Predictor, crop_sets: list[np.ndarray], crops_per_image: int) -> np.ndarray:
    probs = predictor.model.predict(np.concatenate(crop_sets))
    return 1.0 - probs.reshape(-1, crops_per_image, len(predictor.card.labels)).mean(1)[:, 0]


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
