"""The decision rule: a model's raw score -> calibrated P(AI) -> verdict.

This is the one place that turns a score into ``ai`` / ``uncertain`` / ``human``. The engine,
the evaluation, the scan reports, the card's figures and the web page (through the API) all
call it, so the verdict a person reads is the verdict we measure. Fitting the rule on
validation data lives in :mod:`artifact.training.calibration`; this module only applies it and
must stay free of TensorFlow and scikit-learn (the serving install has neither).

Zones of the calibrated probability ``p``: ``ai`` when ``p >= ai_cut``; else ``human`` when
``p <= human_cut``; else ``uncertain``. ``human_cut <= ai_cut`` always, so the rule is
monotone: a higher score never gives a verdict further from ``ai``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, model_validator

Verdict = Literal["ai", "human", "uncertain"]
VERDICTS: tuple[Verdict, ...] = ("ai", "uncertain", "human")
# Scores are clipped this far from 0 and 1 before taking a logit.
SCORE_EPSILON = 1e-6
# The defaults of the rule's two guarantees on validation (training's --max-false-ai and
# --max-missed-ai), and whether the first holds pooled or for the worst human source.
DEFAULT_MAX_FALSE_AI = 0.02
DEFAULT_MAX_MISSED_AI = 0.05
FalseAiScope = Literal["pooled", "worst_source"]
# Calibrated probabilities are reported, and decided on, at this many decimals.
DECIMALS = 6


class ScoreCalibration(BaseModel):
    """A monotone map from the raw score (mean P(AI) over crops) to a calibrated P(AI).

    ``identity`` (old cards), ``temperature`` (sigmoid(logit(score) / temperature)) or
    ``isotonic`` (piecewise-linear through ``x``/``y``, clipped outside; scikit-learn's
    ``IsotonicRegression.predict`` with ``out_of_bounds="clip"`` computes the same).
    """

    method: Literal["identity", "temperature", "isotonic"] = "identity"
    temperature: float | None = None
    x: list[float] | None = None
    y: list[float] | None = None

    @model_validator(mode="after")
    def _complete(self) -> ScoreCalibration:
        if self.method == "temperature" and not (self.temperature and self.temperature > 0):
            raise ValueError("temperature calibration needs a positive temperature")
        if self.method == "isotonic":
            if not self.x or not self.y or len(self.x) != len(self.y):
                raise ValueError("isotonic calibration needs x and y of one length")
            if np.any(np.diff(self.x) < 0) or np.any(np.diff(self.y) < 0):
                raise ValueError("isotonic calibration must be non-decreasing")
        return self

    def apply(self, score):
        """Calibrated P(AI) for a score or an array of scores (same shape)."""
        s = np.clip(np.asarray(score, dtype=np.float64), 0.0, 1.0)
        if self.method == "temperature":
            clipped = np.clip(s, SCORE_EPSILON, 1.0 - SCORE_EPSILON)
            logit = np.log(clipped) - np.log1p(-clipped)
            out = 1.0 / (1.0 + np.exp(-logit / self.temperature))
        elif self.method == "isotonic":
            out = np.interp(s, self.x, self.y)
        else:
            out = s
        return float(out) if np.ndim(out) == 0 else out


class DecisionRule(BaseModel):
    """Calibration plus the two one-sided cut points, as stored in the model card."""

    calibration: ScoreCalibration = ScoreCalibration()
    human_cut: float
    ai_cut: float
    # What each cut guarantees on validation, and how it was chosen (for the card).
    guarantees: dict | None = None

    @model_validator(mode="after")
    def _ordered(self) -> DecisionRule:
        if not 0.0 <= self.ai_cut <= 1.0 or not 0.0 <= self.human_cut <= 1.0:
            raise ValueError("cut points must lie in [0, 1]")
        if self.human_cut > self.ai_cut:
            raise ValueError(f"human cut {self.human_cut} exceeds the AI cut {self.ai_cut}")
        return self

    @classmethod
    def from_legacy(cls, threshold: float, band: tuple[float, float] | None) -> DecisionRule:
        """The rule of a ``card_format`` 1 card (threshold + symmetric band, no calibration).

        Read safely: a score at or above the threshold is ``ai`` even where the old band
        reached 1.0 or covered it (the defect that made such models never answer ``ai``).
        """
        low = threshold if band is None else min(float(band[0]), threshold)
        return cls(human_cut=max(0.0, low), ai_cut=threshold)

    def prob_ai(self, score):
        """Calibrated P(AI) for raw score(s), at the precision verdicts are decided on."""
        return np.round(self.calibration.apply(score), DECIMALS)

    def decide(self, score) -> tuple:
        """(calibrated P(AI), verdict) for one raw score, or arrays of both for many.

        The engine, the evaluation and every report call this: one rule, one rounding.
        """
        prob = self.prob_ai(score)
        if np.ndim(prob) == 0:
            return float(prob), self.verdict(float(prob))
        return prob, self.verdicts(prob)

    def verdict(self, prob_ai: float) -> Verdict:
        """The verdict for one calibrated probability."""
        if prob_ai >= self.ai_cut:
            return "ai"
        if prob_ai <= self.human_cut:
            return "human"
        return "uncertain"

    def verdicts(self, prob_ai: np.ndarray) -> np.ndarray:
        """The verdicts for an array of calibrated probabilities (same rule, vectorised)."""
        p = np.asarray(prob_ai, dtype=np.float64)
        return np.where(p >= self.ai_cut, "ai", np.where(p <= self.human_cut, "human", "uncertain"))

    @property
    def zones(self) -> dict[str, tuple[float, float]]:
        """Each verdict's interval of calibrated probability, for bars and reports."""
        return {
            "human": (0.0, self.human_cut),
            "uncertain": (self.human_cut, self.ai_cut),
            "ai": (self.ai_cut, 1.0),
        }


def verdict_mix(verdicts) -> dict[str, float]:
    """Share of each verdict (``ai``, ``uncertain``, ``human``) in a group, plus its size."""
    values = np.asarray(verdicts)
    n = len(values)
    mix = {v: (round(float(np.mean(values == v)), 4) if n else None) for v in VERDICTS}
    return {"images": n, **mix}
