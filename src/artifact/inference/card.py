"""The model card (``model.json``) as the engine reads it."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from artifact.inference.preprocess import PreprocessConfig


class ModelCard(BaseModel):
    """The fields inference needs; everything else in the card is kept in ``extra``."""

    model_config = ConfigDict(extra="allow")

    name: str
    task: str = "binary"
    labels: list[str]
    preprocess: PreprocessConfig
    threshold: float = 0.5
    uncertain_band: tuple[float, float] = (0.4, 0.6)
    sha256: str

    @property
    def detects_ai(self) -> bool:
        """True when the first class is ``human``: P(AI) is then 1 - P(human)."""
        return bool(self.labels) and self.labels[0] == "human"

    @classmethod
    def read(cls, path: str | Path) -> ModelCard:
        return cls.model_validate(json.loads(Path(path).read_text()))
