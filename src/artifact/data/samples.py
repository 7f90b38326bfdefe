"""The unit every layout reader produces: one labelled image file."""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass, fields
from pathlib import Path

HUMAN = "human"
AI = "ai"

# AI-ArtBench's ten styles, in the spelling we use everywhere (underscores).
STYLES = (
    "art_nouveau",
    "baroque",
    "expressionism",
    "impressionism",
    "post_impressionism",
    "realism",
    "renaissance",
    "romanticism",
    "surrealism",
    "ukiyo_e",
)


@dataclass(frozen=True)
class Sample:
    """One image with what is known about it.

    Attributes:
        path: absolute path of the image file.
        label: ``human`` or ``ai`` (or a free class name in a folder-per-class tree).
        generator: ``human`` or the generator that made it, when known.
        style: one of :data:`STYLES`, when known.
        official_split: ``train`` or ``test`` when the dataset ships its own split.
        source: the collection the image came from (a manifest's ``source`` or
            ``category`` column); every source has its own size and compression signature.
        derived_from: the source of the image this one was made from (an aligned fake's
            original), so holding a source out holds out what was made from it too.
    """

    path: str
    label: str
    generator: str = ""
    style: str = ""
    official_split: str = ""
    source: str = ""
    derived_from: str = ""


def source_of(sample: Sample) -> str:
    """The sample's source, falling back to its generator (or label) where none is recorded."""
    return sample.source or sample.generator or sample.label


def write_samples(samples: list[Sample], path: Path) -> None:
    """Write samples as CSV (the run directory's record of each split)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(Sample)])
        writer.writeheader()
        writer.writerows(asdict(s) for s in samples)


def read_samples(path: Path) -> list[Sample]:
    """Read samples written by :func:`write_samples`."""
    with path.open(newline="") as handle:
        return [Sample(**row) for row in csv.DictReader(handle)]
