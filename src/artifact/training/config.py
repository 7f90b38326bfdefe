"""Everything that defines a training run; saved as the run's ``config.json``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from artifact.data.augment import AugmentPreset
from artifact.data.layouts import Layout
from artifact.data.tasks import Task
from artifact.inference.preprocess import PreprocessConfig
from artifact.training.models import Architecture, Stem

Balance = Literal["undersample", "class_weights", "none"]


class TrainConfig(BaseModel):
    """Training settings. The defaults are the best we measured on ``art-dev`` (README)."""

    data: str
    layout: Layout | None = None
    task: Task = "binary"
    epochs: int = Field(15, ge=1)
    batch_size: int = Field(32, ge=1)
    seed: int = 1337
    balance: Balance = "undersample"
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.15, gt=0, lt=1)
    architecture: Architecture = "small_cnn"
    stem: Stem = "highpass"
    width: int = Field(32, ge=4)
    depth: int = Field(4, ge=1, le=7)
    dropout: float = Field(0.3, ge=0, lt=1)
    learning_rate: float = Field(1e-3, gt=0)
    patience: int = Field(4, ge=1)
    augment: AugmentPreset = "realistic"
    crops_per_image: int = Field(1, ge=1, le=64, description="random crops of each image per epoch")
    preprocess: PreprocessConfig = Field(default_factory=PreprocessConfig)
    extra_train: list[str] = Field(
        default_factory=list, description="datasets added to the training split only (never val/test)"
    )
    max_per_class: int | None = Field(None, ge=1, description="cap training images per class")
    robustness_limit: int = Field(1000, ge=0, description="test images used per robustness check")
