"""Balancing and stratified, seeded splits."""

from __future__ import annotations

from collections import Counter

import numpy as np

from artifact.data.samples import Sample


def stratified_split(
    samples: list[Sample], targets: list[int], fraction: float, seed: int
) -> tuple[list[int], list[int]]:
    """Split indices into (kept, held_out), stratified by class and generator.

    Strata are (target, source, generator) so that every generator and every source is
    represented on both sides; a stratum too small to split falls back to its class alone.
    """
    if not 0 < fraction < 1:
        raise ValueError("fraction must be between 0 and 1")
    rng = np.random.default_rng(seed)
    strata: dict[tuple[int, str, str], list[int]] = {}
    for index, (sample, target) in enumerate(zip(samples, targets, strict=True)):
        strata.setdefault((target, sample.source, sample.generator), []).append(index)
    # Merge strata with fewer than two members into a per-class remainder.
    merged: dict[object, list[int]] = {}
    for (target, source, generator), members in strata.items():
        key = (target, source, generator) if len(members) >= 2 else ("rest", target)
        merged.setdefault(key, []).extend(members)
    kept, held = [], []
    for key in sorted(merged, key=str):
        members = np.array(sorted(merged[key]))
        rng.shuffle(members)
        n_held = int(round(len(members) * fraction))
        if len(members) >= 2:
            n_held = min(max(n_held, 1), len(members) - 1)
        held.extend(members[:n_held].tolist())
        kept.extend(members[n_held:].tolist())
    return sorted(kept), sorted(held)


def undersample(targets: list[int], seed: int) -> list[int]:
    """Indices that keep every class at the size of the smallest (the recipe's balancing)."""
    rng = np.random.default_rng(seed)
    by_class: dict[int, list[int]] = {}
    for index, target in enumerate(targets):
        by_class.setdefault(target, []).append(index)
    smallest = min(len(members) for members in by_class.values())
    chosen: list[int] = []
    for members in by_class.values():
        chosen.extend(rng.choice(members, size=smallest, replace=False).tolist())
    return sorted(chosen)


def class_weights(targets: list[int], num_classes: int) -> dict[int, float]:
    """Inverse-frequency weights (scikit-learn's ``balanced``), the alternative to undersampling."""
    counts = Counter(targets)
    total = len(targets)
    return {c: (total / (num_classes * counts[c])) if counts.get(c) else 0.0 for c in range(num_classes)}
