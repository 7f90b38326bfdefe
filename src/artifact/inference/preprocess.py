"""The canonicalisation chain every image passes before a model sees it.

Training and inference call these same functions, so the arithmetic is identical.
The chain exists to remove shortcuts: in AI-ArtBench the Stable Diffusion images are
768 px JPEG q~75 and the human ones 256 px q~95, so a model fed raw files could learn
size and compression instead of generation. After canonicalisation every image has the
same size and has been through the same JPEG encoder at the same quality.

Two views of an image exist (``PreprocessConfig.view``):

- ``canonical``: the whole image resized to ``canonical_size`` and cropped square; a few crops
  of that square are scored and their probabilities averaged.
- ``native``: generation traces live in fine texture that downscaling erases, so the image keeps
  its own scale (its shorter side only brought into ``scale_range``), crops covering it are
  scored (at most ``max_crops``) beside one canonical view of the whole, and their logits
  averaged. Training draws each image's scale from the whole range, the same for both classes,
  so resolution is no class trait (:func:`native_window`).
"""

from __future__ import annotations

import io
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

CropMode = Literal["center", "five", "grid"]
ViewMode = Literal["canonical", "native"]
# A strip longer than this (long side / short side) is judged on its middle part: the crops
# cover at most this much, and an upscaled extreme panorama cannot blow up memory.
MAX_ASPECT = 8.0


class PreprocessConfig(BaseModel):
    """How raw images become model input; travels with the model in its card."""

    canonical_size: int = Field(
        256, ge=16, description="shorter side resized to this, then centre-cropped square"
    )
    jpeg_quality: int = Field(90, ge=0, le=100, description="JPEG round-trip quality; 0 disables it")
    input_size: int = Field(128, ge=16, description="side of the square crop the model sees")
    crop_mode: CropMode = Field("five", description="crops averaged at prediction time")
    resample: Literal["bicubic"] = "bicubic"
    view: ViewMode = Field(
        "canonical", description="canonical: the whole image resized; native: crops at its own scale"
    )
    scale_range: tuple[int, int] = Field(
        (256, 512), description="native view: the shorter side is brought into this range (px)"
    )
    max_crops: int = Field(9, ge=1, le=64, description="native view: most crops per image, besides the whole")

    def model_post_init(self, __context: object) -> None:
        if self.input_size > self.canonical_size:
            raise ValueError("input_size cannot exceed canonical_size")
        low, high = self.scale_range
        if self.view == "native" and not self.canonical_size <= low <= high:
            raise ValueError("native view needs canonical_size <= scale_range[0] <= scale_range[1]")

    @property
    def averages_logits(self) -> bool:
        return self.view == "native"


def canonicalize(image: Image.Image, config: PreprocessConfig) -> np.ndarray:
    """Resize, centre-crop and JPEG round-trip an RGB image.

    Returns:
        uint8 array of shape (canonical_size, canonical_size, 3).
    """
    return np.asarray(_jpeg_round_trip(square(image, config.canonical_size), config), dtype=np.uint8)


def square(image: Image.Image, size: int) -> Image.Image:
    """The RGB image resized so its shorter side is ``size``, centre-cropped to a square."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    # Pillow's resize filters cover the whole source footprint, so downscaling is antialiased
    # and no aliasing pattern tells one source size from another.
    image = resize_short_side(image, size)
    left, top = (image.width - size) // 2, (image.height - size) // 2
    return image.crop((left, top, left + size, top + size))


def crop_boxes(config: PreprocessConfig) -> list[tuple[int, int]]:
    """Top-left corners of the crops used at prediction time."""
    full, side = config.canonical_size, config.input_size
    center = ((full - side) // 2, (full - side) // 2)
    if config.crop_mode == "center" or full == side:
        return [center]
    far = full - side
    if config.crop_mode == "five":
        return [center, (0, 0), (0, far), (far, 0), (far, far)]
    # grid: tiles covering the whole image, evenly spread (overlapping where needed).
    count = -(-full // side)
    starts = [round(i * far / (count - 1)) for i in range(count)] if count > 1 else [0]
    return [(y, x) for y in starts for x in starts]


def prediction_crops(canonical: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """The crops of one canonical image the model scores (their probabilities are averaged).

    Returns:
        float32 array (n_crops, input_size, input_size, 3) in 0..255 (the model rescales).
    """
    side = config.input_size
    crops = [canonical[y : y + side, x : x + side] for y, x in crop_boxes(config)]
    return np.stack(crops).astype(np.float32)


def model_views(image: Image.Image, config: PreprocessConfig) -> np.ndarray:
    """Every crop of one decoded image the model scores, as serving and evaluation score it.

    Returns:
        float32 array (n_views, input_size, input_size, 3) in 0..255; ``n_views`` is fixed for
        the canonical view and depends on the image's size for the native one.
    """
    if config.view == "canonical":
        return prediction_crops(canonicalize(image, config), config)
    if image.mode != "RGB":
        image = image.convert("RGB")
    image = clip_aspect(image)
    side = config.input_size
    scaled = resize_short_side(image, native_short_side(image.size, config))
    # The whole view from the scaled image, not the original: a quarter of the resizing work
    # for a 1024 px image, and the same antialiased pixels to within rounding.
    whole = canonicalize(scaled, config)
    top = (config.canonical_size - side) // 2
    views = [whole[top : top + side, top : top + side]]
    pixels = np.asarray(_jpeg_round_trip(scaled, config), dtype=np.uint8)
    height, width = pixels.shape[:2]
    corners = plan_crops(width, height, side, config.max_crops)
    views += [pixels[y : y + side, x : x + side] for y, x in corners]
    return np.stack(views).astype(np.float32)


def aggregate(probs: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    """One image's class probabilities from those of its views, shape (n_views, classes) -> (classes,).

    The native view averages logits (a crop that is sure counts for more than one that is not);
    the canonical view keeps the mean probability its models were calibrated with.
    """
    if not config.averages_logits:
        return probs.mean(axis=0)
    logits = np.log(np.clip(probs.astype(np.float64), 1e-7, 1.0)).mean(axis=0)
    weights = np.exp(logits - logits.max())
    return (weights / weights.sum()).astype(np.float32)


def native_short_side(size: tuple[int, int], config: PreprocessConfig) -> int:
    """The shorter side the native view scores the image at: its own, brought into range."""
    low, high = config.scale_range
    return int(min(max(min(size), low), high))


def window_short_side(
    size: tuple[int, int], config: PreprocessConfig, rng: np.random.Generator | None
) -> int:
    """The training window's scale: drawn from the whole range, whatever the image's size (so
    resolution is no class trait); the served scale without ``rng``."""
    if rng is None:
        return native_short_side(size, config)
    low, high = config.scale_range
    return int(rng.integers(low, high + 1))


def resize_short_side(image: Image.Image, short_side: int) -> Image.Image:
    """``image`` resized (bicubic, antialiased) so that its shorter side is ``short_side``."""
    width, height = image.size
    if min(width, height) == short_side:
        return image
    scale = short_side / min(width, height)
    size = (max(short_side, round(width * scale)), max(short_side, round(height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)


def plan_crops(width: int, height: int, side: int, max_crops: int) -> list[tuple[int, int]]:
    """Top-left corners (y, x) of ``side``-square crops that cover a ``width`` x ``height`` image.

    Rows and columns of crops are spread evenly from edge to edge (overlapping where the side
    does not divide). Past ``max_crops`` the grid of at most that many crops that covers the
    largest share of the image is taken (fewest crops on a tie); its crops stay spread over the
    whole image, with gaps between them.
    """
    if width < side or height < side:
        raise ValueError(f"a {width}x{height} image is smaller than one {side} px crop")
    rows, cols = -(-height // side), -(-width // side)
    if rows * cols > max_crops:
        grids = [(r, c) for r in range(1, rows + 1) for c in range(1, cols + 1) if r * c <= max_crops]
        rows, cols = max(grids, key=lambda g: (_covered(g, width, height, side), -g[0] * g[1]))
    return [(y, x) for y in _spread(height, side, rows) for x in _spread(width, side, cols)]


def native_window(
    image: Image.Image, config: PreprocessConfig, rng: np.random.Generator | None
) -> Image.Image:
    """A ``canonical_size`` square of ``image`` at a native-view scale, for the training cache.

    With ``rng`` (training) the shorter side is drawn uniformly from ``scale_range`` whatever the
    image's own size, the same for both classes, and the square's place is random; without it
    (validation, test) the image is at the scale serving uses and the square is its centre.
    """
    image = clip_aspect(image.convert("RGB") if image.mode != "RGB" else image)
    scaled = resize_short_side(image, window_short_side(image.size, config, rng))
    size = config.canonical_size
    far_x, far_y = scaled.width - size, scaled.height - size
    if rng is not None:
        left, top = int(rng.integers(0, far_x + 1)), int(rng.integers(0, far_y + 1))
    else:
        left, top = far_x // 2, far_y // 2
    return scaled.crop((left, top, left + size, top + size))


def _covered(grid: tuple[int, int], width: int, height: int, side: int) -> float:
    rows, cols = grid
    return min(1.0, rows * side / height) * min(1.0, cols * side / width)


def _spread(length: int, side: int, count: int) -> list[int]:
    far = length - side
    if count == 1:
        return [far // 2]
    return [round(i * far / (count - 1)) for i in range(count)]


def clip_aspect(image: Image.Image) -> Image.Image:
    """The middle part of an image longer than ``MAX_ASPECT`` to one (the image itself otherwise)."""
    width, height = image.size
    short, long = min(width, height), max(width, height)
    if long <= MAX_ASPECT * short:
        return image
    keep = int(MAX_ASPECT * short)
    if width > height:
        left = (width - keep) // 2
        return image.crop((left, 0, left + keep, height))
    top = (height - keep) // 2
    return image.crop((0, top, width, top + keep))


def _jpeg_round_trip(image: Image.Image, config: PreprocessConfig) -> Image.Image:
    if not config.jpeg_quality:
        return image
    buffer = io.BytesIO()
    # 4:4:4 keeps chroma detail; the same encoder settings for every source.
    image.save(buffer, format="JPEG", quality=config.jpeg_quality, subsampling=0)
    buffer.seek(0)
    decoded = Image.open(buffer)
    decoded.load()
    return decoded
