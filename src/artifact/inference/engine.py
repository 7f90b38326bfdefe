"""The inference engine: ``model.tflite`` + ``model.json`` -> verdicts, with LiteRT only.

This module must never import TensorFlow (a test checks), so that a serving install is
small and starts fast. Preprocessing is :mod:`artifact.inference.preprocess`, the very
code the training pipeline used.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from artifact.inference.card import ModelCard
from artifact.inference.decision import Verdict
from artifact.inference.decode import DEFAULT_LIMITS, DecodeLimits, decode_image, read_limited_bytes
from artifact.inference.litert import LiteRTModel
from artifact.inference.preprocess import aggregate, model_views

MODEL_ENV = "ARTIFACT_MODEL_DIR"


class ModelNotFoundError(FileNotFoundError):
    """No model directory with ``model.tflite`` and ``model.json`` where we looked."""


@dataclass
class Prediction:
    """One image's result. ``verdict`` and ``prob_ai`` are None for non-detection models.

    ``prob_ai`` is the calibrated probability the verdict is decided on; ``score`` the raw
    model output (mean P(AI) over crops) it was calibrated from. ``cut_points`` are the
    decision rule's ``human`` and ``ai`` cuts on ``prob_ai``.
    """

    verdict: Verdict | None
    prob_ai: float | None
    probabilities: dict[str, float]
    label: str
    model: dict[str, str]
    sha256: str
    score: float | None = None
    cut_points: dict[str, float] | None = None
    width: int = 0
    height: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def bundled_model_dir() -> Path:
    """The default model shipped inside the package (``artifact/models/default``).

    Package data, so an editable install, ``pip install .`` and a wheel all find it.
    """
    return Path(str(resources.files("artifact.models") / "default"))


def resolve_model_dir(model_dir: str | Path | None = None) -> Path:
    """``model_dir``, else ``$ARTIFACT_MODEL_DIR``, else the bundled default model."""
    chosen = Path(model_dir or os.environ.get(MODEL_ENV) or bundled_model_dir()).expanduser()
    if not (chosen / "model.tflite").is_file() or not (chosen / "model.json").is_file():
        raise ModelNotFoundError(f"no model.tflite + model.json in {chosen}")
    return chosen


class Predictor:
    """Loads a model directory once and predicts on decoded images, bytes or files.

    Thread-safe: the interpreter underneath serialises its calls.
    """

    def __init__(self, model_dir: str | Path | None = None, num_threads: int | None = None):
        self.model_dir = resolve_model_dir(model_dir)
        self.card = ModelCard.read(self.model_dir / "model.json")
        tflite = self.model_dir / "model.tflite"
        digest = hashlib.sha256(tflite.read_bytes()).hexdigest()
        if digest != self.card.sha256:
            raise ModelNotFoundError(
                f"{tflite} does not match its card (sha256 {digest[:12]}…, card says "
                f"{self.card.sha256[:12]}…)"
            )
        self.model = LiteRTModel(tflite, num_threads=num_threads)
        side = self.card.preprocess.input_size
        if self.model.input_shape != (side, side, 3):
            raise ModelNotFoundError(f"model input {self.model.input_shape} != card {side}")

    @property
    def identity(self) -> dict[str, str]:
        return {"name": self.card.name, "sha256": self.card.sha256}

    def probabilities(self, images: list[Image.Image]) -> np.ndarray:
        """Each image's class probabilities aggregated over its views, shape (n, classes)."""
        config = self.card.preprocess
        views = [model_views(image, config) for image in images]
        if not views:
            return np.zeros((0, len(self.card.labels)), dtype=np.float32)
        probs = self.model.predict(np.concatenate(views))
        ends = np.cumsum([len(v) for v in views])
        return np.stack([aggregate(part, config) for part in np.split(probs, ends[:-1])])

    def predict_images(self, images: list[Image.Image], sha256s: list[str]) -> list[Prediction]:
        """Predict on decoded RGB images (batched through the interpreter)."""
        probs = self.probabilities(images)
        return [
            self._result(row, digest, image.size)
            for row, digest, image in zip(probs, sha256s, images, strict=True)
        ]

    def predict_bytes(self, data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Prediction:
        """Decode (or raise :class:`~artifact.inference.decode.ImageDecodeError`) and predict."""
        image = decode_image(data, limits)
        return self.predict_images([image], [hashlib.sha256(data).hexdigest()])[0]

    def predict_file(self, path: str | Path, limits: DecodeLimits = DEFAULT_LIMITS) -> Prediction:
        return self.predict_bytes(read_limited_bytes(path, limits), limits)

    def verdict(self, prob_ai: float) -> Verdict:
        """The card's decision rule for a calibrated probability."""
        return self.card.rule.verdict(prob_ai)

    def _result(self, row: np.ndarray, digest: str, size: tuple[int, int]) -> Prediction:
        labels = self.card.labels
        probabilities = {label: round(float(p), 6) for label, p in zip(labels, row, strict=True)}
        top = labels[int(np.argmax(row))]
        if not self.card.detects_ai:
            return Prediction(None, None, probabilities, top, self.identity, digest,
                              width=size[0], height=size[1])  # fmt: skip
        rule = self.card.rule
        score = float(1.0 - row[0])
        prob_ai, verdict = rule.decide(score)
        return Prediction(
            verdict=verdict,
            prob_ai=prob_ai,
            probabilities=probabilities,
            label=top,
            model=self.identity,
            sha256=digest,
            score=round(score, 6),
            cut_points={"human": rule.human_cut, "ai": rule.ai_cut},
            width=size[0],
            height=size[1],
        )
