"""Fit the decision rule on validation: calibrate the score, then choose two one-sided cuts.

The rule itself (and the only code that applies it) is :mod:`artifact.inference.decision`.

1. Calibration: temperature scaling on the logit, or isotonic regression, whichever has the
   lower *cross-validated* log-loss on validation (isotonic fitted and scored on the same
   images would always win by overfitting).
2. AI cut: the lowest calibrated probability at which at most ``max_false_ai`` of validation
   human art is called ``ai`` (pooled, or for the worst human source), or, with
   ``max_false_ai=None``, the cut that maximises balanced accuracy.
3. Human cut: the highest calibrated probability at which at most ``max_missed_ai`` of
   validation AI images are called ``human``; never above the AI cut.
Both verdicts stay reachable: the AI cut never exceeds what the highest score calibrates to,
and the human cut never falls below what the lowest score calibrates to.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from artifact.inference.decision import (
    DECIMALS,
    DEFAULT_MAX_FALSE_AI,
    DEFAULT_MAX_MISSED_AI,
    SCORE_EPSILON,
    DecisionRule,
    FalseAiScope,
    ScoreCalibration,
    verdict_mix,
)

ECE_BINS = 15
# With worst-source scope, sources with fewer validation human images than this are pooled.
MIN_SOURCE_IMAGES = 50
# Below this validation ROC-AUC a model is too close to chance to be served.
NEAR_CHANCE_AUC = 0.6


class DecisionRuleError(ValueError):
    """A rule under which some verdict could never be given on validation."""


def expected_calibration_error(is_ai: np.ndarray, prob_ai: np.ndarray, bins: int = ECE_BINS) -> float:
    """Equal-width-bin ECE: the size-weighted gap between mean P(AI) and the AI share."""
    is_ai = np.asarray(is_ai, dtype=np.float64)
    prob_ai = np.asarray(prob_ai, dtype=np.float64)
    if len(prob_ai) == 0:
        return 0.0
    index = np.minimum((prob_ai * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += members.mean() * abs(prob_ai[members].mean() - is_ai[members].mean())
    return float(total)


def log_loss(is_ai: np.ndarray, prob_ai: np.ndarray) -> float:
    p = np.clip(np.asarray(prob_ai, dtype=np.float64), SCORE_EPSILON, 1 - SCORE_EPSILON)
    y = np.asarray(is_ai, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def fit_temperature(is_ai: np.ndarray, score: np.ndarray) -> ScoreCalibration:
    """The temperature that minimises log-loss of sigmoid(logit(score) / T)."""

    def loss(log_t: float) -> float:
        return log_loss(
            is_ai, ScoreCalibration(method="temperature", temperature=math.exp(log_t)).apply(score)
        )

    best = minimize_scalar(loss, bounds=(math.log(0.05), math.log(20.0)), method="bounded")
    return ScoreCalibration(method="temperature", temperature=round(math.exp(best.x), 6))


def fit_isotonic(is_ai: np.ndarray, score: np.ndarray) -> ScoreCalibration:
    """Isotonic regression stored as its breakpoints (applied with ``np.interp``)."""
    model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip", increasing=True)
    model.fit(np.asarray(score, dtype=np.float64), np.asarray(is_ai, dtype=np.float64))
    return ScoreCalibration(
        method="isotonic",
        x=[float(v) for v in model.X_thresholds_],
        y=[float(v) for v in model.y_thresholds_],
    )


FITTERS = {"temperature": fit_temperature, "isotonic": fit_isotonic}


def choose_calibration(is_ai: np.ndarray, score: np.ndarray, seed: int = 0) -> tuple[ScoreCalibration, dict]:
    """Fit each method; keep the one with the lower 5-fold cross-validated log-loss."""
    is_ai = np.asarray(is_ai, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    folds = min(5, int(is_ai.sum()), int((~is_ai).sum()))
    cv_loss: dict[str, float] = {}
    for name, fit in FITTERS.items():
        if folds < 2:
            cv_loss[name] = log_loss(is_ai, fit(is_ai, score).apply(score))
            continue
        held_out = np.empty(len(score))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        for train_idx, test_idx in splitter.split(score, is_ai):
            held_out[test_idx] = fit(is_ai[train_idx], score[train_idx]).apply(score[test_idx])
        cv_loss[name] = log_loss(is_ai, held_out)
    chosen = min(cv_loss, key=cv_loss.get)
    return FITTERS[chosen](is_ai, score), {k: round(v, 5) for k, v in cv_loss.items()}


def fit_decision_rule(
    is_ai: np.ndarray,
    score: np.ndarray,
    max_false_ai: float | None = DEFAULT_MAX_FALSE_AI,
    max_missed_ai: float = DEFAULT_MAX_MISSED_AI,
    sources: list[str] | None = None,
    false_ai_scope: FalseAiScope = "pooled",
) -> tuple[DecisionRule, dict]:
    """The decision rule for validation scores, and the report of how it was chosen.

    Args:
        is_ai: the truth per validation image.
        score: the model's raw P(AI) per image (mean over crops, as the engine computes it).
        sources: each image's source; with ``false_ai_scope="worst_source"`` the AI cut must
            hold ``max_false_ai`` for every human source, not just pooled.
    Raises:
        DecisionRuleError: validation lacks one of the classes.
    """
    is_ai = np.asarray(is_ai, dtype=bool)
    score = np.asarray(score, dtype=np.float64)
    if len(is_ai) == 0 or is_ai.all() or not is_ai.any():
        raise DecisionRuleError("validation needs images of both classes to choose the cut points")
    calibration, cv_loss = choose_calibration(is_ai, score)
    human_groups = _human_groups(is_ai, sources, false_ai_scope)
    cuts = _choose_cuts(calibration, is_ai, score, human_groups, max_false_ai, max_missed_ai)
    if calibration.method == "isotonic" and (cuts is None or not _extremes_reachable(calibration, cuts)):
        # Isotonic's flat steps can hold human images at the highest reachable value, or (on
        # scores that barely rank the classes) collapse to one value so that a score of 0 and
        # a score of 1 get the same verdict; the strictly monotone temperature map separates them.
        calibration = fit_temperature(is_ai, score)
        cuts = _choose_cuts(calibration, is_ai, score, human_groups, max_false_ai, max_missed_ai)
    if cuts is None:
        cuts = _choose_cuts(calibration, is_ai, score, human_groups, max_false_ai, max_missed_ai, force=True)
    human_cut, ai_cut = cuts
    prob = np.round(np.asarray(calibration.apply(score)), DECIMALS)
    rule = DecisionRule(calibration=calibration, human_cut=human_cut, ai_cut=ai_cut)
    _, verdicts = rule.decide(score)
    guarantees = {
        "validation_images": int(len(is_ai)),
        "validation_roc_auc": round(float(roc_auc_score(is_ai, score)), 4),
        "ai_cut": f"at most {_pct(max_false_ai)} of validation human art "
        f"({'the worst source' if false_ai_scope == 'worst_source' else 'pooled'}) called ai"
        if max_false_ai is not None
        else "the cut that maximises validation balanced accuracy",
        "human_cut": f"at most {_pct(max_missed_ai)} of validation AI images called human",
        "max_false_ai": max_false_ai,
        "false_ai_scope": false_ai_scope,
        "max_missed_ai": max_missed_ai,
        "validation_human_called_ai": round(float(np.mean(verdicts[~is_ai] == "ai")), 4),
        # Per source whatever the scope the cut was chosen for (pooled would report the pool).
        "validation_worst_source_human_called_ai": round(
            false_ai_of(verdicts, _human_groups(is_ai, sources, "worst_source")), 4
        ),
        "validation_ai_called_human": round(float(np.mean(verdicts[is_ai] == "human")), 4),
        "validation_mix": {
            "human": verdict_mix(verdicts[~is_ai]),
            "ai": verdict_mix(verdicts[is_ai]),
        },
    }
    report = {
        "method": calibration.method,
        "cross_validated_log_loss": cv_loss,
        "ece_before": round(expected_calibration_error(is_ai, score), 4),
        "ece_after": round(expected_calibration_error(is_ai, prob), 4),
        "log_loss_before": round(log_loss(is_ai, score), 4),
        "log_loss_after": round(log_loss(is_ai, prob), 4),
    }
    rule = rule.model_copy(update={"guarantees": {**guarantees, "calibration": report}})
    return rule, rule.guarantees


def _extremes_reachable(calibration, cuts) -> bool:
    """A score of 0 is served ``human`` and a score of 1 ``ai`` under these cuts."""
    low, high = (float(np.asarray(calibration.apply(np.array([v])))[0]) for v in (0.0, 1.0))
    human_cut, ai_cut = cuts
    return low <= human_cut and low < ai_cut <= high


def _choose_cuts(calibration, is_ai, score, human_groups, max_false_ai, max_missed_ai, force=False):
    """(human cut, AI cut) under ``calibration``; None when no reachable AI cut keeps the
    false-AI guarantee (``force``: then the highest reachable cut, guarantee or not)."""
    prob = np.round(np.asarray(calibration.apply(score)), DECIMALS)
    # What the highest and lowest possible scores calibrate to, at the served precision.
    highest = _round_down(float(calibration.apply(1.0)))
    lowest = _round_up(float(calibration.apply(0.0)))

    def false_ai(cut: float) -> float:
        return max(float(np.mean(prob[group] >= cut)) for group in human_groups)

    candidates = np.unique(np.concatenate([prob[prob <= highest], [highest]]))
    if max_false_ai is not None:
        allowed = [c for c in candidates if false_ai(c) <= max_false_ai]
        if not allowed and not force:
            return None
        ai_cut = min(allowed) if allowed else highest
    else:
        balanced = [0.5 * (np.mean(prob[is_ai] >= c) + np.mean(prob[~is_ai] < c)) for c in candidates]
        ai_cut = float(candidates[int(np.argmax(balanced))])
    ai_cut = min(_round_up(ai_cut), highest)
    below = np.unique(np.concatenate([prob[prob < ai_cut], [lowest]]))
    allowed = [c for c in below if np.mean(prob[is_ai] <= c) <= max_missed_ai]
    human_cut = _round_down(max(allowed) if allowed else lowest)
    return min(max(human_cut, lowest), ai_cut), ai_cut


def require_servable(rule: DecisionRule) -> None:
    """Refuse a model near chance on validation, or a rule under which validation saw no
    ``ai`` or no ``human`` verdict."""
    guarantees = rule.guarantees or {}
    auc = guarantees.get("validation_roc_auc")
    if auc is not None and auc < NEAR_CHANCE_AUC:
        raise DecisionRuleError(
            f"the model is near chance on validation (ROC-AUC {auc:.3f} < {NEAR_CHANCE_AUC}): it "
            "has learned nothing usable; check the data and the backbone weights"
        )
    mix = guarantees.get("validation_mix")
    if not mix:
        return
    called_ai = (mix["ai"]["ai"] or 0) + (mix["human"]["ai"] or 0)
    called_human = (mix["ai"]["human"] or 0) + (mix["human"]["human"] or 0)
    missing = [v for v, share in (("ai", called_ai), ("human", called_human)) if share == 0]
    if missing:
        raise DecisionRuleError(
            f"under this model's cut points (human <= {rule.human_cut}, ai >= {rule.ai_cut}) no "
            f"validation image is called {' or '.join(missing)}: the model cannot give that "
            "verdict; retrain it or relax --max-false-ai / --max-missed-ai"
        )


def false_ai_of(verdicts: np.ndarray, human_groups: list[np.ndarray]) -> float:
    return max(float(np.mean(verdicts[group] == "ai")) for group in human_groups)


def _human_groups(is_ai: np.ndarray, sources, scope: FalseAiScope) -> list[np.ndarray]:
    """The human images each false-AI share is measured on. Per source, a source with fewer
    than :data:`MIN_SOURCE_IMAGES` validation images joins one group of small sources: with
    20 images a single one is already 5%, so a 2% bound could never hold and would push the
    AI cut to the top."""
    if scope == "pooled" or sources is None:
        return [~is_ai]
    sources = np.asarray(sources)
    groups, small = [], np.zeros(len(is_ai), dtype=bool)
    for source in sorted(set(sources[~is_ai])):
        members = (~is_ai) & (sources == source)
        if members.sum() >= MIN_SOURCE_IMAGES:
            groups.append(members)
        else:
            small |= members
    if small.sum() >= MIN_SOURCE_IMAGES:
        groups.append(small)
    groups.append(~is_ai)  # and pooled, which covers the small sources too
    return groups


def _round_up(value: float) -> float:
    return min(1.0, math.ceil(value * 1e6 - 1e-6) / 1e6)


def _round_down(value: float) -> float:
    return max(0.0, math.floor(value * 1e6 + 1e-6) / 1e6)


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:g}%"
