"""The model card (``model.json``) as the engine reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from artifact.inference.decision import DecisionRule
from artifact.inference.preprocess import PreprocessConfig

# How an export stores its weights (the card records it); TensorFlow-free, for the CLI too.
Quantize = Literal["none", "dynamic", "int8"]

# 1: ``threshold`` + symmetric ``uncertain_band`` on the raw score (read through
#    :meth:`DecisionRule.from_legacy`). 2: ``decision`` (calibration + two one-sided cuts).
CARD_FORMAT = 2


class ModelCard(BaseModel):
    """The fields inference needs; everything else in the card is kept in ``extra``."""

    model_config = ConfigDict(extra="allow")

    card_format: int = 1
    name: str
    task: str = "binary"
    labels: list[str]
    preprocess: PreprocessConfig
    decision: DecisionRule | None = None
    # card_format 1 only:
    threshold: float = 0.5
    uncertain_band: tuple[float, float] | None = None
    sha256: str

    @property
    def rule(self) -> DecisionRule:
        """The decision rule every verdict of this model comes from."""
        if self.decision is not None:
            return self.decision
        return DecisionRule.from_legacy(self.threshold, self.uncertain_band)

    @property
    def detects_ai(self) -> bool:
        """True when the first class is ``human``: P(AI) is then 1 - P(human)."""
        return bool(self.labels) and self.labels[0] == "human"

    @classmethod
    def read(cls, path: str | Path) -> ModelCard:
        return cls.model_validate(json.loads(Path(path).read_text()))
