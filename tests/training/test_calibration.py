"""The decision rule: fitted on validation, applied by one function, every verdict reachable."""

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.isotonic import IsotonicRegression

from artifact.inference.card import ModelCard
from artifact.inference.decision import DecisionRule, ScoreCalibration
from artifact.training.calibration import (
    DecisionRuleError,
    expected_calibration_error,
    fit_decision_rule,
    fit_isotonic,
    require_servable,
)


def _labels(n_human: int, n_ai: int) -> np.ndarray:
    return np.r_[np.zeros(n_human), np.ones(n_ai)].astype(bool)


def test_cuts_hold_their_guarantees_on_validation():
    rng = np.random.default_rng(0)
    is_ai = _labels(500, 500)
    score = np.r_[rng.beta(2, 5, 500), rng.beta(5, 2, 500)]
    rule, guarantees = fit_decision_rule(is_ai, score, max_false_ai=0.02, max_missed_ai=0.05)
    _, verdicts = rule.decide(score)
    assert np.mean(verdicts[~is_ai] == "ai") <= 0.02
    assert np.mean(verdicts[is_ai] == "human") <= 0.05
    # Tight: one step lower would break the guarantee (the AI cut is the lowest allowed).
    prob = rule.prob_ai(score)
    assert np.mean(prob[~is_ai] >= np.max(prob[prob < rule.ai_cut])) > 0.02
    assert guarantees["validation_human_called_ai"] == round(float(np.mean(verdicts[~is_ai] == "ai")), 4)
    assert 0 < rule.human_cut < rule.ai_cut < 1


def test_a_high_threshold_model_still_answers_ai():
    """The bundled model's defect: a threshold of 0.78 made the old band reach 1.0."""
    rng = np.random.default_rng(1)
    is_ai = _labels(700, 700)
    score = np.r_[rng.beta(1, 6, 700) ** 0.3, rng.beta(6, 1, 700)]  # humans reach high scores
    rule, _ = fit_decision_rule(is_ai, score)
    _, verdicts = rule.decide(score)
    assert np.mean(verdicts[is_ai] == "ai") > 0.3
    assert rule.decide(0.999999)[1] == "ai"
    assert rule.decide(0.0)[1] == "human"


def test_calibration_lowers_the_calibration_error():
    rng = np.random.default_rng(2)
    truth = rng.random(2000) < 0.5
    # An over-confident model: the true probability is 0.75 where it says 0.99.
    true_p = np.where(truth, 0.75, 0.25)
    labels = rng.random(2000) < true_p
    score = np.where(truth, 0.99, 0.01)
    rule, guarantees = fit_decision_rule(labels, score)
    report = guarantees["calibration"]
    assert report["ece_before"] > 0.2
    assert report["ece_after"] < 0.05
    assert report["ece_after"] == round(expected_calibration_error(labels, rule.prob_ai(score)), 4)


def test_worst_source_scope_holds_for_every_human_source():
    rng = np.random.default_rng(3)
    is_ai = _labels(600, 300)
    # Human source "b" scores much higher than "a": pooled 2% lets "b" reach about 6%.
    score = np.r_[rng.beta(2, 8, 400), rng.beta(4, 4, 200), rng.beta(8, 2, 300)]
    sources = ["a"] * 400 + ["b"] * 200 + ["ai"] * 300
    pooled, _ = fit_decision_rule(is_ai, score, sources=sources, false_ai_scope="pooled")
    worst, _ = fit_decision_rule(is_ai, score, sources=sources, false_ai_scope="worst_source")
    b = np.array(sources) == "b"
    assert np.mean(pooled.decide(score[b])[1] == "ai") > 0.02
    assert np.mean(worst.decide(score[b])[1] == "ai") <= 0.02
    assert worst.ai_cut > pooled.ai_cut
    # Both report the worst source's share, whatever scope chose their cut (a pooled fit used
    # to report the pooled share under that name).
    pooled_b = np.mean(pooled.decide(score[b])[1] == "ai")
    assert pooled.guarantees["validation_worst_source_human_called_ai"] == round(pooled_b, 4)
    assert pooled.guarantees["validation_human_called_ai"] < pooled_b


def test_one_class_only_is_refused():
    with pytest.raises(DecisionRuleError):
        fit_decision_rule(np.ones(5, dtype=bool), np.full(5, 0.9))


def test_isotonic_matches_scikit_learn():
    rng = np.random.default_rng(4)
    score = rng.random(300)
    labels = rng.random(300) < score
    ours = fit_isotonic(labels, score)
    reference = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(score, labels)
    probe = np.linspace(-0.1, 1.1, 500)
    np.testing.assert_allclose(ours.apply(probe), reference.predict(probe), atol=1e-12)


def test_an_unreachable_verdict_is_refused():
    rule = DecisionRule(human_cut=0.2, ai_cut=0.9, guarantees={"validation_mix": {
        "human": {"images": 10, "ai": 0.0, "uncertain": 0.5, "human": 0.5},
        "ai": {"images": 10, "ai": 0.0, "uncertain": 1.0, "human": 0.0},
    }})  # fmt: skip
    with pytest.raises(DecisionRuleError, match="no validation image is called ai"):
        require_servable(rule)


@settings(max_examples=60, deadline=None)
@given(
    n_human=st.integers(2, 60),
    n_ai=st.integers(2, 60),
    seed=st.integers(0, 10_000),
    max_false_ai=st.sampled_from([0.0, 0.01, 0.05, 0.2, None]),
    max_missed_ai=st.sampled_from([0.0, 0.05, 0.3]),
    spread=st.floats(0.05, 3.0),
)
# Found by CI's fresh hypothesis run: scores that rank the classes backwards made isotonic
# regression one flat step, and a score of 0 was served "ai".
@example(n_human=2, n_ai=2, seed=8731, max_false_ai=None, max_missed_ai=0.0, spread=2.0)
def test_every_verdict_is_reachable_and_the_rule_is_monotone(
    n_human, n_ai, seed, max_false_ai, max_missed_ai, spread
):
    rng = np.random.default_rng(seed)
    is_ai = _labels(n_human, n_ai)
    logits = np.r_[rng.normal(-1, spread, n_human), rng.normal(1, spread, n_ai)]
    score = 1 / (1 + np.exp(-logits))
    rule, _ = fit_decision_rule(is_ai, score, max_false_ai=max_false_ai, max_missed_ai=max_missed_ai)
    assert rule.human_cut <= rule.ai_cut
    assert rule.decide(1.0)[1] == "ai"
    assert rule.decide(0.0)[1] == "human"
    grid = np.linspace(0, 1, 2001)
    rank = {"human": 0, "uncertain": 1, "ai": 2}
    ranks = [rank[v] for v in rule.decide(grid)[1]]
    assert all(a <= b for a, b in zip(ranks, ranks[1:], strict=False))
    # One rule: the scalar and the vectorised paths agree everywhere.
    assert [rule.decide(float(s))[1] for s in grid[::50]] == list(rule.decide(grid[::50])[1])


def _legacy_card(threshold, band):
    return ModelCard.model_validate({
        "name": "old", "labels": ["human", "ai"], "sha256": "0" * 64,
        "preprocess": {"canonical_size": 256, "input_size": 224},
        "threshold": threshold, "uncertain_band": band,
    })  # fmt: skip


@pytest.mark.parametrize("band", [(0.4819, 1.0), (0.7, 0.9), (0.8, 0.85)])
def test_old_cards_answer_ai_at_and_above_their_threshold(band):
    card = _legacy_card(0.7819, band)
    rule = card.rule
    assert card.decision is None
    for score in (0.7819, 0.79, 0.9, 1.0):
        assert rule.decide(score)[1] == "ai"
    assert rule.decide(min(band[0], 0.7819) - 0.01)[1] == "human"
    assert rule.calibration.method == "identity"


def test_a_cut_above_the_ai_cut_is_invalid():
    with pytest.raises(ValueError, match="exceeds"):
        DecisionRule(human_cut=0.8, ai_cut=0.5)
    with pytest.raises(ValueError):
        ScoreCalibration(method="isotonic", x=[0, 1], y=[1, 0])


def test_worst_source_scope_ignores_sources_too_small_to_hold_the_bound():
    """20 images: one called ai is already 5%, so a 2% bound would push the AI cut to 1.0."""
    rng = np.random.default_rng(5)
    is_ai = _labels(420, 300)
    tiny = np.r_[rng.beta(2, 8, 19), 0.995]  # one of 20 scores like AI
    score = np.r_[rng.beta(2, 8, 400), tiny, rng.beta(8, 2, 300)]
    sources = ["big"] * 400 + ["tiny"] * 20 + ["ai"] * 300
    rule, _ = fit_decision_rule(is_ai, score, sources=sources, false_ai_scope="worst_source")
    assert rule.ai_cut < rule.prob_ai(0.99)
    assert np.mean(rule.decide(score[-300:])[1] == "ai") > 0.5
