"""The canonicalisation chain every image passes before a model sees it.

Training and inference call these same functions, so the arithmetic is identical.
The chain exists to remove shortcuts: in AI-ArtBench the Stable Diffusion images are
768 px JPEG q~75 and the human ones 256 px q~95, so a model fed raw files could learn
size and compression instead of generation. After canonicalisation every image has the
same size and has been through the same JPEG encoder at the same quality.
"""

from __future__ import annotations

import io
from typing import Literal

import numpy as np
from PIL import Image
from pydantic import BaseModel, Field

CropMode = Literal["center", "five", "grid"]


class PreprocessConfig(BaseModel):
    """How raw images become model input; travels with the model in its card."""

    canonical_size: int = Field(
        256, ge=16, description="shorter side resized to this, then centre-cropped square"
    )
    jpeg_quality: int = Field(90, ge=0, le=100, description="JPEG round-trip quality; 0 disables it")
    input_size: int = Field(128, ge=16, description="side of the square crop the model sees")
    crop_mode: CropMode = Field("five", description="crops averaged at prediction time")
    resample: Literal["bicubic"] = "bicubic"

    def model_post_init(self, __context: object) -> None:
        if self.input_size > self.canonical_size:
            raise ValueError("input_size cannot exceed canonical_size")


def canonicalize(image: Image.Image, config: PreprocessConfig) -> np.ndarray:
    """Resize, centre-crop and JPEG round-trip an RGB image.

    Returns:
        uint8 array of shape (canonical_size, canonical_size, 3).
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    size = config.canonical_size
    width, height = image.size
    scale = size / min(width, height)
    new_w, new_h = max(size, round(width * scale)), max(size, round(height * scale))
    if (new_w, new_h) != (width, height):
        # Pillow's resize filters cover the whole source footprint, so downscaling
        # is antialiased and no aliasing pattern tells one source size from another.
        image = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    image = image.crop((left, top, left + size, top + size))
    if config.jpeg_quality:
        buffer = io.BytesIO()
        # 4:4:4 keeps chroma detail; the same encoder settings for every source.
        image.save(buffer, format="JPEG", quality=config.jpeg_quality, subsampling=0)
        buffer.seek(0)
        image = Image.open(buffer)
        image.load()
    return np.asarray(image, dtype=np.uint8)


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
