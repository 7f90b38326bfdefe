"""The degradations real uploads suffer, applied to the original file before canonicalisation."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image, ImageFilter


def jpeg(quality: int) -> Callable[[Image.Image], Image.Image]:
    def apply(image: Image.Image) -> Image.Image:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=quality)  # default 4:2:0, as most software
        buffer.seek(0)
        result = Image.open(buffer)
        result.load()
        return result.convert("RGB")

    return apply


def downscale(factor: float) -> Callable[[Image.Image], Image.Image]:
    def apply(image: Image.Image) -> Image.Image:
        width, height = image.size
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        return image.resize(size, Image.Resampling.BICUBIC)

    return apply


def blur(radius: float) -> Callable[[Image.Image], Image.Image]:
    def apply(image: Image.Image) -> Image.Image:
        return image.filter(ImageFilter.GaussianBlur(radius))

    return apply


PERTURBATIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "jpeg_q90": jpeg(90),
    "jpeg_q70": jpeg(70),
    "jpeg_q50": jpeg(50),
    "downscale_0.5": downscale(0.5),
    "blur_r1": blur(1.0),
}
