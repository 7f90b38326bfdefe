"""Augmentation settings: what real uploads suffer, as named presets."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

AugmentPreset = Literal["none", "flips", "realistic", "wide", "strong"]


class AugmentConfig(BaseModel):
    """Per-image random degradations applied to canonical images during training only.

    Rotation and zoom are deliberately absent: their interpolation erases the fine
    texture that carries generation traces (measured in FACTS.md).
    """

    flip: bool = True
    random_crop: bool = True
    jpeg_prob: float = Field(0.0, ge=0, le=1)
    jpeg_quality_min: int = Field(50, ge=1, le=100)
    jpeg_quality_max: int = Field(95, ge=1, le=100)
    rescale_prob: float = Field(0.0, ge=0, le=1)
    rescale_min: float = Field(0.5, gt=0, le=1)
    blur_prob: float = Field(0.0, ge=0, le=1)
    blur_sigma_max: float = Field(1.2, gt=0)

    @classmethod
    def preset(cls, name: AugmentPreset) -> AugmentConfig:
        if name == "none":
            return cls(flip=False, random_crop=False)
        if name == "flips":
            return cls()
        if name == "realistic":
            return cls(jpeg_prob=0.5, rescale_prob=0.25, blur_prob=0.15)
        if name == "wide":
            # Multi-source data: every other image, whatever its class, is downscaled and
            # upscaled back, so "upscaled from a small original" is no trait of one source.
            return cls(jpeg_prob=0.5, rescale_prob=0.5, rescale_min=0.5, blur_prob=0.15)
        if name == "strong":
            return cls(jpeg_prob=0.7, rescale_prob=0.4, blur_prob=0.3, jpeg_quality_min=30)
        raise ValueError(f"unknown augmentation preset {name!r}")
