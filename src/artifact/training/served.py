"""Measure an exported model as it is served: LiteRT through :class:`Predictor`, verdicts
through the card's decision rule. The card's and the README's headline figures come from here.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from artifact.data.samples import HUMAN, Sample, source_of
from artifact.inference.decision import DecisionRule, verdict_mix
from artifact.inference.decode import ImageDecodeError
from artifact.inference.engine import Predictor
from artifact.training.calibration import expected_calibration_error

log = logging.getLogger(__name__)


def served_scores(
    predictor: Predictor, samples: list[Sample], description: str = "scoring"
) -> tuple[list[Sample], np.ndarray]:
    """The raw score of every readable sample, from the engine a user runs (unreadable skipped)."""
    from rich.progress import track

    kept, scores = [], []
    for sample in track(samples, description=description, transient=True):
        try:
            scores.append(predictor.predict_file(sample.path).score)
        except ImageDecodeError as exc:
            log.warning("skipped %s: %s", sample.path, exc.message)
            continue
        kept.append(sample)
    return kept, np.array(scores, dtype=np.float64)


def served_metrics(samples: list[Sample], scores: np.ndarray, rule: DecisionRule) -> dict:
    """Verdict mix per class, source and generator, ROC-AUC and calibration error."""
    is_ai = np.array([s.label != HUMAN for s in samples])
    prob_ai, verdicts = rule.decide(scores)
    metrics: dict = {"images": len(samples)}
    metrics["served"] = {
        label: verdict_mix(verdicts[mask]) for label, mask in (("human", ~is_ai), ("ai", is_ai)) if mask.any()
    }
    if is_ai.any() and (~is_ai).any():
        metrics["roc_auc"] = round(float(roc_auc_score(is_ai, prob_ai)), 4)
        metrics["ece_before"] = round(expected_calibration_error(is_ai, scores), 4)
        metrics["ece_after"] = round(expected_calibration_error(is_ai, prob_ai), 4)
    metrics["per_source"] = mix_by(samples, verdicts, lambda s: f"{source_of(s)} ({s.label})")
    metrics["per_generator"] = mix_by(samples, verdicts, lambda s: s.generator or s.label)
    return metrics


def mix_by(samples: list[Sample], verdicts: np.ndarray, key) -> dict[str, dict]:
    """The served verdict mix of every group (a source or a generator)."""
    groups: dict[str, list[str]] = defaultdict(list)
    labels: dict[str, str] = {}
    for sample, verdict in zip(samples, verdicts, strict=True):
        groups[key(sample)].append(str(verdict))
        labels[key(sample)] = sample.label
    return {name: {"label": labels[name], **verdict_mix(members)} for name, members in sorted(groups.items())}


def evaluate_served(
    model_dir: str | Path | None, samples: list[Sample], invariance_per_class: int = 0
) -> dict:
    """``artifact evaluate --model MODEL_DIR``: the served figures of an exported model, and
    with ``invariance_per_class`` the invariance audit through the same engine."""
    predictor = Predictor(model_dir)
    if not predictor.card.detects_ai:
        raise ValueError("served evaluation needs a human-vs-AI model")
    kept, scores = served_scores(predictor, samples)
    metrics = served_metrics(kept, scores, predictor.card.rule)
    if invariance_per_class:
        from artifact.training.invariance import invariance_audit

        def score(images) -> np.ndarray:
            return 1.0 - predictor.probabilities(images)[:, 0]

        metrics["invariance"] = invariance_audit(score, kept, predictor.card.rule, invariance_per_class)
    return metrics
