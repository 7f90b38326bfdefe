from collections import Counter

import pytest

from artifact.data.layouts import DatasetError, load_dataset
from artifact.data.samples import STYLES, Sample
from artifact.data.splits import class_weights, stratified_split, undersample
from artifact.data.tasks import class_names_for, usable_samples


def test_class_order_is_pinned_not_folder_sorted(artbench_root):
    samples = load_dataset(artbench_root).samples
    assert class_names_for("binary", samples) == ["human", "ai"]
    assert class_names_for("source", samples) == ["human", "latent_diffusion", "stable_diffusion"]
    assert class_names_for("style", samples) == list(STYLES)


def test_style_task_drops_images_without_style(folders_root):
    samples = load_dataset(folders_root).samples
    kept, _ = usable_samples("style", samples, list(STYLES))
    assert kept == []


def test_binary_task_refuses_unknown_labels():
    samples = [Sample("a.jpg", "cats"), Sample("b.jpg", "dogs")]
    with pytest.raises(DatasetError, match="binary task needs labels human/ai"):
        class_names_for("binary", samples)


def _samples(counts: dict[str, int]) -> tuple[list[Sample], list[int]]:
    samples, targets = [], []
    for generator, n in counts.items():
        for i in range(n):
            label = "human" if generator == "human" else "ai"
            samples.append(Sample(f"{generator}/{i}.jpg", label, generator))
            targets.append(0 if label == "human" else 1)
    return samples, targets


def test_stratified_split_is_seeded_disjoint_and_keeps_generator_shares():
    samples, targets = _samples({"human": 100, "sd": 50, "ld": 50})
    kept, held = stratified_split(samples, targets, 0.2, seed=7)
    assert set(kept).isdisjoint(held) and len(kept) + len(held) == 200
    assert Counter(samples[i].generator for i in held) == {"human": 20, "sd": 10, "ld": 10}
    assert stratified_split(samples, targets, 0.2, seed=7) == (kept, held)
    assert stratified_split(samples, targets, 0.2, seed=8) != (kept, held)


def test_undersampling_keeps_every_class_at_the_smallest_size():
    _, targets = _samples({"human": 30, "sd": 40, "ld": 35})
    chosen = undersample(targets, seed=0)
    assert Counter(targets[i] for i in chosen) == {0: 30, 1: 30}
    assert undersample(targets, seed=0) == chosen


def test_class_weights_are_inverse_frequency():
    weights = class_weights([0] * 10 + [1] * 30, 2)
    assert weights[0] == pytest.approx(2.0) and weights[1] == pytest.approx(40 / 60)
