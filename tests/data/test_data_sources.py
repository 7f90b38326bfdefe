"""Multi-source datasets: reading several as one, class x source balancing, the source audit."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artifact.data.audit import PIXEL_FEATURES, audit, pixel_statistics
from artifact.data.layouts import DatasetError
from artifact.data.samples import Sample, source_of
from artifact.data.sources import allocate_evenly, balance_by_source, cap_per_source, load_datasets
from artifact.data.splits import stratified_split
from artifact.inference.preprocess import PreprocessConfig
from artifact.training.calibration import fit_decision_rule
from tests.support.art import make_art


def _samples(spec: dict[tuple[str, str], int]) -> tuple[list[Sample], list[int]]:
    samples, targets = [], []
    for (label, source), count in spec.items():
        for i in range(count):
            samples.append(Sample(f"/{source}/{i}.png", label, label, "", "", source))
            targets.append(0 if label == "human" else 1)
    return samples, targets


def test_allocate_evenly_fills_small_groups_and_shares_the_rest():
    assert allocate_evenly({"a": 10, "b": 1000, "c": 1000}, 300) == {"a": 10, "b": 145, "c": 145}
    assert allocate_evenly({"a": 5, "b": 5}, 100) == {"a": 5, "b": 5}
    assert sum(allocate_evenly({"a": 7, "b": 9, "c": 11}, 20).values()) == 20


def test_balance_by_source_keeps_classes_equal_and_no_source_dominant():
    samples, targets = _samples({
        ("human", "wikiart"): 5000, ("human", "anime"): 300, ("human", "photos"): 800,
        ("ai", "sd"): 900, ("ai", "flux"): 700, ("ai", "old"): 100,
    })  # fmt: skip
    chosen = balance_by_source(samples, targets, seed=0)
    by_class = Counter(targets[i] for i in chosen)
    assert by_class[0] == by_class[1] == 1700  # every AI image; as many humans
    sources = Counter(source_of(samples[i]) for i in chosen)
    # Humans spread evenly: the small source gives all it has, the two others the same share.
    assert sources["anime"] == 300 and sources["photos"] == 700 and sources["wikiart"] == 700
    again = balance_by_source(samples, targets, seed=0)
    assert again == chosen and balance_by_source(samples, targets, seed=1) != chosen


def test_cap_per_source_caps_each_class_and_source_pair():
    samples, targets = _samples({("human", "a"): 50, ("human", "b"): 5, ("ai", "a"): 30})
    chosen = cap_per_source(samples, targets, cap=10, seed=0)
    counts = Counter((targets[i], source_of(samples[i])) for i in chosen)
    assert counts == {(0, "a"): 10, (0, "b"): 5, (1, "a"): 10}


def test_splits_are_stratified_by_source():
    samples, targets = _samples({("human", "a"): 40, ("human", "b"): 40, ("ai", "c"): 80})
    _, held = stratified_split(samples, targets, 0.25, seed=0)
    assert Counter(source_of(samples[i]) for i in held) == {"a": 10, "b": 10, "c": 20}


def _manifest(root: Path, rows: list[dict]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for row in rows:
        make_art(row["label"], 32, rng).save(root / row["path"])
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def test_several_datasets_read_as_one_with_their_sources(tmp_path):
    first = _manifest(tmp_path / "one", [
        {"path": "a.png", "label": "human", "category": "wikiart"},
        {"path": "b.png", "label": "ai", "category": "flux"},
    ])  # fmt: skip
    second = _manifest(tmp_path / "two", [{"path": "c.png", "label": "ai", "source": "sd", "category": "x"}])
    data = load_datasets([first, second])
    assert [source_of(s) for s in data.samples] == ["wikiart", "flux", "sd"]  # source beats category
    with pytest.raises(DatasetError):
        load_datasets([])


def test_pixel_statistics_see_blur_and_colour():
    rng = np.random.default_rng(0)
    sharp = np.asarray(make_art("ai", 128, rng))
    blurred = np.asarray(Image.fromarray(sharp).resize((32, 32)).resize((128, 128), Image.Resampling.BICUBIC))
    stats = dict(zip(PIXEL_FEATURES, pixel_statistics(sharp), strict=True))
    soft = dict(zip(PIXEL_FEATURES, pixel_statistics(blurred), strict=True))
    assert soft["sharpness"] < stats["sharpness"] / 2 and soft["high_frequency"] < stats["high_frequency"]
    grey = np.repeat(sharp.mean(axis=2, keepdims=True), 3, axis=2).astype(np.uint8)
    assert pixel_statistics(grey)[PIXEL_FEATURES.index("saturation")] < 0.01


def test_source_audit_flags_a_source_that_survives_canonicalisation(tmp_path):
    """One human source upscaled from small originals stays blurry after canonicalisation:
    the class totals can hide it; the per-source audit names it."""
    rng = np.random.default_rng(0)
    samples, groups = [], []
    for source, label, small in (
        ("tiny_scans", "human", True),
        ("museum", "human", False),
        ("gen", "ai", False),
    ):
        for i in range(20):
            image = make_art("human", 128, rng)
            if small:
                image = image.resize((24, 24))
            path = tmp_path / f"{source}_{i}.png"
            image.save(path)
            samples.append(Sample(str(path), label, label, "", "", source))
            groups.append(label)
    report = audit(samples, groups, canonical=PreprocessConfig(canonical_size=64, input_size=64))
    assert set(report["per_source"]) == {"tiny_scans", "museum", "gen"}
    assert "pixels" in report["per_class"]["human"]
    tiny = report["per_source"]["tiny_scans"]["vs_other_classes"]
    assert tiny["sharpness"]["shortcut"] and tiny["high_frequency"]["shortcut"]
    assert not report["per_source"]["museum"]["vs_other_classes"]["sharpness"]["shortcut"]


def test_ai_cut_under_a_false_positive_constraint():
    rng = np.random.default_rng(0)
    human, ai = rng.uniform(0, 0.7, 1000), rng.uniform(0.3, 1.0, 1000)
    truth = np.r_[np.zeros(1000), np.ones(1000)].astype(bool)
    free, _ = fit_decision_rule(truth, np.r_[human, ai], max_false_ai=None)
    bound, report = fit_decision_rule(truth, np.r_[human, ai], max_false_ai=0.02)
    called = bound.decide(human)[1] == "ai"
    assert np.mean(called) <= 0.02 < np.mean(free.decide(human)[1] == "ai")
    assert report["validation_human_called_ai"] <= 0.02 and report["max_false_ai"] == 0.02
    # The AI cut sits at the 98th percentile of U(0, 0.7), whatever the calibration.
    assert np.min(human[called]) == pytest.approx(0.686, abs=0.01)
    # Every human above every AI score: only the very top is called ai, and it still can be.
    extreme, report = fit_decision_rule(
        np.array([0, 0, 1], dtype=bool), np.array([0.995, 0.999, 0.5]), max_false_ai=0.0
    )
    assert report["validation_human_called_ai"] == 0.0
    assert extreme.decide(1.0)[1] == "ai"
