"""Decision threshold and uncertain band, chosen on the validation split."""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel

DEFAULT_THRESHOLD = 0.5
DEFAULT_HALF_WIDTH = 0.1
# Outside the band, validation accuracy must reach this; the band widens until it does.
CONFIDENT_ACCURACY = 0.95
MAX_HALF_WIDTH = 0.3


class Calibration(BaseModel):
    threshold: float = DEFAULT_THRESHOLD
    uncertain_low: float = DEFAULT_THRESHOLD - DEFAULT_HALF_WIDTH
    uncertain_high: float = DEFAULT_THRESHOLD + DEFAULT_HALF_WIDTH
    validation_images: int = 0
    max_false_ai: float | None = None
    validation_false_ai: float | None = None
    validation_balanced_accuracy: float | None = None
    confident_share: float | None = None
    confident_accuracy: float | None = None


def calibrate(is_ai: np.ndarray, prob_ai: np.ndarray, max_false_ai: float | None = None) -> Calibration:
    """Pick the decision threshold, then the narrowest band around it outside which accuracy
    reaches :data:`CONFIDENT_ACCURACY` (capped at ±0.3).

    Args:
        max_false_ai: if given, the threshold is the lowest one that calls at most this share
            of validation human art ``ai`` (real work called AI is what users resent most);
            otherwise the one that maximises balanced accuracy.
    """
    is_ai = np.asarray(is_ai, dtype=bool)
    prob_ai = np.asarray(prob_ai, dtype=np.float64)
    if len(is_ai) == 0 or is_ai.all() or not is_ai.any():
        return Calibration(validation_images=len(is_ai), max_false_ai=max_false_ai)
    candidates = np.unique(np.concatenate([[0.5], np.clip(prob_ai, 0.01, 0.99)]))
    scores = np.array([_balanced_accuracy(is_ai, prob_ai >= t) for t in candidates])
    if max_false_ai is not None:
        false_ai = np.array([np.mean(prob_ai[~is_ai] >= t) for t in candidates])
        allowed = false_ai <= max_false_ai
        # Just above every human score nothing human is called AI: that always meets it.
        threshold = float(candidates[allowed].min()) if allowed.any() else float(prob_ai[~is_ai].max())
        threshold = min(1.0, math.ceil(threshold * 1e4 + (0 if allowed.any() else 1)) / 1e4)
        best = _balanced_accuracy(is_ai, prob_ai >= threshold)
    else:
        best = float(np.max(scores))
        # Among ties prefer the threshold closest to 0.5: it transfers best to new data.
        tied = candidates[np.isclose(scores, best)]
        threshold = float(tied[np.argmin(np.abs(tied - 0.5))])
    half_width = MAX_HALF_WIDTH
    for width in np.arange(0.0, MAX_HALF_WIDTH + 1e-9, 0.01):
        confident = np.abs(prob_ai - threshold) > width
        if not confident.any():
            break
        accuracy = np.mean((prob_ai[confident] >= threshold) == is_ai[confident])
        if accuracy >= CONFIDENT_ACCURACY:
            half_width = float(width)
            break
    low, high = max(0.0, threshold - half_width), min(1.0, threshold + half_width)
    confident = (prob_ai < low) | (prob_ai > high)
    return Calibration(
        threshold=round(threshold, 4),
        uncertain_low=round(low, 4),
        uncertain_high=round(high, 4),
        validation_images=len(is_ai),
        max_false_ai=max_false_ai,
        validation_false_ai=round(float(np.mean(prob_ai[~is_ai] >= threshold)), 4),
        validation_balanced_accuracy=round(best, 4),
        confident_share=round(float(confident.mean()), 4),
        confident_accuracy=(
            round(float(np.mean((prob_ai[confident] >= threshold) == is_ai[confident])), 4)
            if confident.any()
            else None
        ),
    )


def _balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    return 0.5 * (np.mean(predicted[truth]) + np.mean(~predicted[~truth]))
