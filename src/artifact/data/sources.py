"""Multi-source datasets: read several datasets as one, and balance them by class x source.

Every source (a repository snapshot, a collection, a generator) has its own size and
compression signature. A detector trained on one big source per class learns the source;
capping each source and spreading every class evenly over its sources makes no source
dominate, so the signal left to learn is the one the classes share.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np

from artifact.data.layouts import DatasetError, LabelledData, Layout, load_dataset
from artifact.data.samples import source_of


def load_datasets(paths: list[str | Path], layout: Layout | None = None) -> LabelledData:
    """Read one or more datasets as one; the first gives the root and layout recorded.

    Raises:
        DatasetError: no path given, or a dataset cannot be read.
    """
    if not paths:
        raise DatasetError("no dataset given")
    datasets = [load_dataset(path, layout) for path in paths]
    if len(datasets) == 1:
        return datasets[0]
    samples = [sample for dataset in datasets for sample in dataset.samples]
    return LabelledData(root=datasets[0].root, layout=datasets[0].layout, samples=samples)


def allocate_evenly(available: dict[str, int], total: int) -> dict[str, int]:
    """Spread ``total`` over groups as evenly as their sizes allow (water-filling).

    Groups smaller than an even share give all they have; the rest is shared by the others.
    """
    quota = {name: 0 for name in available}
    remaining = min(total, sum(available.values()))
    open_groups = sorted((n for n in available if available[n] > 0), key=lambda n: (available[n], n))
    while remaining > 0 and open_groups:
        share = remaining // len(open_groups)
        if share == 0:
            for name in open_groups[:remaining]:
                quota[name] += 1
            break
        for name in list(open_groups):
            take = min(share, available[name] - quota[name])
            quota[name] += take
            remaining -= take
            if quota[name] == available[name]:
                open_groups.remove(name)
    return quota


def balance_by_source(
    samples: list, targets: list[int], seed: int, max_per_source: int | None = None
) -> list[int]:
    """Indices of a subset balanced by class, and within each class spread over its sources.

    Every class gets as many images as the smallest class holds once each of its sources is
    capped at ``max_per_source``; within a class, the sources share that number evenly.
    """
    rng = np.random.default_rng(seed)
    groups: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for index, (sample, target) in enumerate(zip(samples, targets, strict=True)):
        groups[target][source_of(sample)].append(index)
    cap = max_per_source or max(len(m) for g in groups.values() for m in g.values())
    per_class = min(sum(min(len(m), cap) for m in g.values()) for g in groups.values())
    chosen: list[int] = []
    for target in sorted(groups):
        by_source = groups[target]
        quota = allocate_evenly({s: min(len(m), cap) for s, m in by_source.items()}, per_class)
        for source in sorted(by_source):
            members = np.array(by_source[source])
            chosen.extend(rng.choice(members, size=quota[source], replace=False).tolist())
    return sorted(chosen)


def cap_per_source(samples: list, targets: list[int], cap: int, seed: int) -> list[int]:
    """Indices keeping at most ``cap`` images of each (class, source) pair (seeded)."""
    rng = np.random.default_rng(seed)
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    for index, (sample, target) in enumerate(zip(samples, targets, strict=True)):
        groups[(target, source_of(sample))].append(index)
    chosen: list[int] = []
    for key in sorted(groups, key=str):
        members = np.array(groups[key])
        chosen.extend(rng.choice(members, size=min(cap, len(members)), replace=False).tolist())
    return sorted(chosen)


def source_counts(samples: list) -> dict[str, dict[str, int]]:
    """{source: {label: count}} for reports and the model card."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for sample in samples:
        counts[source_of(sample)][sample.label] += 1
    return {source: dict(sorted(labels.items())) for source, labels in sorted(counts.items())}
