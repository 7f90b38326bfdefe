import numpy as np

from artifact.training.calibration import calibrate


def test_threshold_moves_to_where_the_classes_separate():
    rng = np.random.default_rng(0)
    human = rng.uniform(0.0, 0.3, 200)
    ai = rng.uniform(0.25, 0.6, 200)
    result = calibrate(np.r_[np.zeros(200), np.ones(200)].astype(bool), np.r_[human, ai])
    assert 0.24 <= result.threshold <= 0.31
    assert result.uncertain_low < result.threshold < result.uncertain_high
    assert result.confident_accuracy >= 0.95


def test_perfect_separation_needs_no_band():
    truth = np.array([0, 0, 1, 1], dtype=bool)
    result = calibrate(truth, np.array([0.1, 0.2, 0.8, 0.9]))
    assert result.validation_balanced_accuracy == 1.0
    assert result.uncertain_high - result.uncertain_low < 0.05


def test_one_class_only_falls_back_to_defaults():
    result = calibrate(np.ones(5, dtype=bool), np.full(5, 0.9))
    assert result.threshold == 0.5
