"""``artifact data inspect``: the shortcut audit of a dataset, as files and as the model sees it."""

from __future__ import annotations

import random

from artifact.data.audit import audit
from artifact.data.layouts import Layout
from artifact.data.samples import source_of
from artifact.data.sources import allocate_evenly, load_datasets
from artifact.data.tasks import Task, class_names_for, usable_samples
from artifact.inference.preprocess import PreprocessConfig


def inspect_dataset(
    path: str | list[str], layout: Layout | None, task: Task, limit_per_class: int, canonical_size: int
) -> dict:
    """Audit up to ``limit_per_class`` images per class (a seeded sample, spread evenly over
    each class's sources) twice: as stored, and after the canonicalisation chain."""
    data = load_datasets([path] if isinstance(path, str) else path, layout)
    class_names = class_names_for(task, data.samples)
    samples, targets = usable_samples(task, data.samples, class_names)
    rng = random.Random(0)
    by_class: dict[int, dict[str, list[int]]] = {}
    for index, target in enumerate(targets):
        by_class.setdefault(target, {}).setdefault(source_of(samples[index]), []).append(index)
    chosen = []
    for by_source in by_class.values():
        quota = allocate_evenly({s: len(m) for s, m in by_source.items()}, limit_per_class)
        for source, members in sorted(by_source.items()):
            chosen.extend(rng.sample(members, quota[source]))
    chosen.sort()
    picked = [samples[i] for i in chosen]
    groups = [class_names[targets[i]] for i in chosen]
    canonical = PreprocessConfig(canonical_size=canonical_size, input_size=min(224, canonical_size))
    return {
        "root": str(data.root),
        "layout": data.layout,
        "task": task,
        "images_found": len(data.samples),
        "images_audited": len(picked),
        "files": audit(picked, groups),
        "canonical": audit(picked, groups, canonical=canonical),
    }
