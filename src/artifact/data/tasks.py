"""What the model learns to tell apart: the class list of each task, pinned in order."""

from __future__ import annotations

from typing import Literal

from artifact.data.layouts import DatasetError
from artifact.data.samples import AI, HUMAN, STYLES, Sample

Task = Literal["binary", "source", "style"]
TASKS: tuple[Task, ...] = ("binary", "source", "style")


def class_names_for(task: Task, samples: list[Sample]) -> list[str]:
    """The ordered class list. Human is always index 0 where it exists.

    The order never depends on folder sorting: binary is (human, ai), style is the ten
    AI-ArtBench styles, and source is human followed by the generators, sorted by name.
    """
    if task == "binary":
        labels = {s.label for s in samples}
        unknown = labels - {HUMAN, AI}
        if unknown:
            raise DatasetError(
                "the binary task needs labels human/ai (or real/fake); found " + ", ".join(sorted(unknown))
            )
        return [HUMAN, AI]
    if task == "source":
        generators = sorted({generator_of(s) for s in samples} - {HUMAN})
        return [HUMAN, *generators]
    if task == "style":
        return list(STYLES)
    raise DatasetError(f"unknown task {task!r}; choose one of {', '.join(TASKS)}")


def generator_of(sample: Sample) -> str:
    return HUMAN if sample.label == HUMAN else (sample.generator or sample.label)


def target_of(task: Task, sample: Sample, class_names: list[str]) -> int | None:
    """Index of the sample's class, or None if the task cannot use it (e.g. no style)."""
    if task == "binary":
        key = sample.label
    elif task == "source":
        key = generator_of(sample)
    else:
        key = sample.style
    return class_names.index(key) if key in class_names else None


def usable_samples(
    task: Task, samples: list[Sample], class_names: list[str]
) -> tuple[list[Sample], list[int]]:
    """Samples the task can label, with their targets."""
    kept, targets = [], []
    for sample in samples:
        target = target_of(task, sample, class_names)
        if target is not None:
            kept.append(sample)
            targets.append(target)
    return kept, targets
