"""One processing history for both classes, drawn per training image before canonicalisation.

Every source arrives with its own size and compression history (WikiArt: 224 px JPEG q75; the
AI tiles: lossless PNG), and a detector learns that history instead of generation unless both
classes share one. So each training image, human or AI, draws from the same distribution:
a downscale, a lossy re-encoding (JPEG of a quality range, WebP, or none), palette quantisation
and mild blur. Human sources arrive pre-compressed, so every AI image is first compressed once at
a quality drawn from the range measured on the human sources (``ai_precompress_quality``):
afterwards "compressed before" is no trait of one class.

The draws are seeded per image (seed, index), so a cached training split is reproducible and
independent of thread scheduling.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter
from pydantic import BaseModel, Field


class ProcessingChain(BaseModel):
    """The shared distribution; written into ``config.json`` and the model card."""

    ai_precompress_quality: tuple[int, int] = Field(
        (70, 95), description="JPEG quality range every AI image is compressed with first"
    )
    downscale_prob: float = Field(0.5, ge=0, le=1)
    downscale_range: tuple[float, float] = Field((0.5, 1.0), description="factor on each side")
    jpeg_prob: float = Field(0.5, ge=0, le=1)
    jpeg_quality: tuple[int, int] = (60, 95)
    webp_prob: float = Field(0.15, ge=0, le=1, description="WebP instead of JPEG, when re-encoded")
    palette_prob: float = Field(0.05, ge=0, le=1)
    blur_prob: float = Field(0.1, ge=0, le=1)
    blur_radius: tuple[float, float] = (0.3, 1.0)

    def apply(self, image: Image.Image, is_ai: bool, rng: np.random.Generator) -> Image.Image:
        """The image after one draw of the chain (``is_ai`` adds the first compression)."""
        image = image.convert("RGB")
        # Drawn for both classes, so the shared draws that follow are the same for both.
        first_quality = int(rng.integers(*_inclusive(self.ai_precompress_quality)))
        if is_ai:
            image = encode_decode(image, "JPEG", first_quality)
        if rng.random() < self.downscale_prob:
            factor = rng.uniform(*self.downscale_range)
            size = (max(8, round(image.width * factor)), max(8, round(image.height * factor)))
            image = image.resize(size, Image.Resampling.BICUBIC)
        if rng.random() < self.blur_prob:
            image = image.filter(ImageFilter.GaussianBlur(rng.uniform(*self.blur_radius)))
        if rng.random() < self.palette_prob:
            image = image.quantize(256).convert("RGB")
        if rng.random() < self.jpeg_prob:
            quality = int(rng.integers(*_inclusive(self.jpeg_quality)))
            fmt = "WEBP" if rng.random() < self.webp_prob else "JPEG"
            image = encode_decode(image, fmt, quality)
        return image

    def for_split(self, is_ai: list[bool], seed: int):
        """``process(index, image)`` for :func:`artifact.data.canonical.canonicalize_files`."""

        def process(index: int, image: Image.Image) -> Image.Image:
            return self.apply(image, is_ai[index], np.random.default_rng([seed, index]))

        return process


def encode_decode(image: Image.Image, fmt: str, quality: int) -> Image.Image:
    """The image as it comes back from one lossy save at ``quality``."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def _inclusive(bounds: tuple[int, int]) -> tuple[int, int]:
    return bounds[0], bounds[1] + 1
