"""Everything that defines a training run; saved as the run's ``config.json``."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator, model_validator

from artifact.data.augment import AugmentPreset
from artifact.data.layouts import Layout
from artifact.data.processing import ProcessingChain
from artifact.data.tasks import Task
from artifact.inference.decision import DEFAULT_MAX_FALSE_AI, DEFAULT_MAX_MISSED_AI, FalseAiScope
from artifact.inference.preprocess import PreprocessConfig
from artifact.training.architectures import (
    ARCHITECTURES,
    DEFAULT_ARCHITECTURE,
    ArchitectureName,
    Stem,
    default_preprocess,
    is_backbone,
)

Balance = Literal["undersample", "source", "class_weights", "none"]


class TrainConfig(BaseModel):
    """Training settings: the one source of their defaults (``artifact train``'s options are
    derived from these fields). ``preprocess`` defaults to the architecture's own image sizes
    (:mod:`artifact.training.architectures`)."""

    data: list[str] = Field(description="one or more datasets, read as one and split together")
    layout: Layout | None = None
    task: Task = "binary"
    epochs: int = Field(15, ge=1)
    batch_size: int = Field(32, ge=1)
    seed: int = 1337
    balance: Balance = "undersample"
    test_fraction: float = Field(0.2, gt=0, lt=1)
    val_fraction: float = Field(0.15, gt=0, lt=1)
    architecture: ArchitectureName = DEFAULT_ARCHITECTURE
    backbone_weights: str = Field(
        "imagenet", description="imagenet (Keras download), none, or a weights file"
    )
    backbone_taps: bool = Field(True, description="pooled early-block features feed the head too")
    residual_branch: bool = Field(
        False, description="a from-scratch CNN reads the NPR residual (image less its 2x2 down-up) too"
    )
    head_units: int = Field(256, ge=0, description="hidden units of the backbone head (0: linear)")
    fine_tune_epochs: int = Field(5, ge=0, description="epochs with the top blocks unfrozen")
    fine_tune_learning_rate: float = Field(1e-4, gt=0)
    feature_views: int = Field(2, ge=1, le=16, description="augmented views cached per training image")
    source_weighting: bool = Field(
        False, description="every source of a class carries the same total loss weight"
    )
    keep_features: bool = Field(False, description="keep the cached backbone features (features.npz)")
    stem: Stem = "highpass"
    width: int = Field(32, ge=4)
    depth: int = Field(4, ge=1, le=7)
    dropout: float = Field(0.3, ge=0, lt=1)
    learning_rate: float = Field(1e-3, gt=0)
    patience: int = Field(4, ge=1)
    augment: AugmentPreset = "realistic"
    crops_per_image: int = Field(1, ge=1, le=64, description="random crops of each image per epoch")
    preprocess: PreprocessConfig = Field(description="image sizes (default: the architecture's)")
    processing: ProcessingChain | None = Field(
        default_factory=ProcessingChain,
        description="the processing history every training image draws (None: files as they are)",
    )
    aligned_fakes: int = Field(
        0, ge=0, description="human training images also given as AI through the TAEF2 autoencoder"
    )
    autoencoder_weights: str | None = Field(
        None, description="folder with taef2_encoder.pth and taef2_decoder.pth (for --aligned-fakes)"
    )
    extra_train: list[str] = Field(
        default_factory=list, description="datasets added to the training split only (never val/test)"
    )
    max_per_class: int | None = Field(None, ge=1, description="cap training images per class")
    max_per_source: int | None = Field(
        None, ge=1, description="cap images per (class, source) before splitting"
    )
    max_false_ai: float | None = Field(
        DEFAULT_MAX_FALSE_AI,
        ge=0,
        le=1,
        description="AI cut: at most this share of validation human art called ai",
    )
    max_missed_ai: float = Field(
        DEFAULT_MAX_MISSED_AI,
        ge=0,
        le=1,
        description="human cut: at most this share of validation AI images called human",
    )
    false_ai_scope: FalseAiScope = Field(
        "pooled", description="max_false_ai over all validation human art, or its worst source"
    )
    leave_one_source_out: bool = Field(False, description="per-source evaluation with the source held out")
    loso_min_images: int = Field(150, ge=1, description="sources smaller than this are not held out")
    robustness_limit: int = Field(1000, ge=0, description="test images used per robustness check")
    invariance_per_class: int = Field(
        100, ge=0, description="validation images per class in the invariance audit (0: none)"
    )

    @model_validator(mode="before")
    @classmethod
    def _architecture_sizes(cls, values: object) -> object:
        if isinstance(values, dict) and values.get("preprocess") is None:
            architecture = values.get("architecture", DEFAULT_ARCHITECTURE)
            if isinstance(architecture, str) and architecture in ARCHITECTURES:
                values = {**values, "preprocess": default_preprocess(architecture)}
        return values

    @model_validator(mode="after")
    def _residual_branch_needs_a_backbone(self) -> TrainConfig:
        if self.residual_branch and not self.uses_backbone:
            raise ValueError(
                f"--residual-branch joins a pretrained backbone's head; {self.architecture} has none "
                f"(choose one of the backbones, e.g. {DEFAULT_ARCHITECTURE})"
            )
        return self

    @model_validator(mode="after")
    def _aligned_fakes_need_the_autoencoder(self) -> TrainConfig:
        if self.aligned_fakes and self.autoencoder_weights is None:
            raise ValueError(
                "--aligned-fakes needs --autoencoder-weights: a folder with taef2_encoder.pth and "
                "taef2_decoder.pth (github.com/madebyollin/taesd)"
            )
        if self.aligned_fakes and self.task != "binary":
            raise ValueError(f"--aligned-fakes makes AI twins of human art: binary task, not {self.task}")
        return self

    @field_validator("data", mode="before")
    @classmethod
    def _one_or_more(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @property
    def uses_backbone(self) -> bool:
        return is_backbone(self.architecture)
