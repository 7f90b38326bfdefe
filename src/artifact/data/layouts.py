"""Read the dataset layouts we understand, and tell them apart without being told.

- ``artbench``: AI-ArtBench as downloaded from Kaggle: ``train/`` and ``test/`` (possibly
  one level down), each with ``AI_LD_<style>``, ``AI_SD_<style>`` and ``<style>`` folders.
  The AI folders spell ``ukiyo-e``, the human one ``ukiyo_e``.
- ``manifest``: a ``labels.csv`` with at least ``path,label`` (optionally ``generator,style,split``
  and ``source`` or ``category``, the collection each image came from).
- ``folders``: one folder per class, e.g. ``human/`` and ``ai/``; images may sit in
  sub-folders, whose name is then taken as the generator.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from artifact.data.samples import AI, HUMAN, STYLES, Sample
from artifact.errors import UserFacingError
from artifact.inference.formats import IMAGE_SUFFIXES  # noqa: F401 - re-exported

Layout = Literal["artbench", "manifest", "folders"]
LAYOUTS: tuple[Layout, ...] = ("artbench", "manifest", "folders")
MANIFEST_NAME = "labels.csv"
ARTBENCH_GENERATORS = {"AI_LD_": "latent_diffusion", "AI_SD_": "stable_diffusion"}
HUMAN_ALIASES = {"human", "real", "humans", "authentic"}
AI_ALIASES = {"ai", "fake", "generated", "synthetic", "ai_generated"}


class DatasetError(UserFacingError, ValueError):
    """The dataset is missing, empty or not in a layout we can read."""


@dataclass(frozen=True)
class LabelledData:
    """Every sample a layout reader found, and where it found them."""

    root: Path
    layout: Layout
    samples: list[Sample]

    @property
    def has_official_test(self) -> bool:
        return any(s.official_split == "test" for s in self.samples)


def load_dataset(path: str | Path, layout: Layout | None = None) -> LabelledData:
    """Read a dataset, detecting its layout unless ``layout`` forces one.

    Raises:
        DatasetError: the path is missing, holds no images, or breaks its layout.
    """
    root = Path(path).expanduser().resolve()
    if not root.exists():
        raise DatasetError(f"dataset path does not exist: {root}")
    if not root.is_dir():
        raise DatasetError(f"dataset path is not a directory: {root}")
    layout = layout or detect_layout(root)
    if layout == "artbench":
        samples = read_artbench(root)
    elif layout == "manifest":
        samples = read_manifest(root / MANIFEST_NAME)
    elif layout == "folders":
        samples = read_folders(root)
    else:
        raise DatasetError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    if not samples:
        raise DatasetError(f"no images found in {root} ({layout} layout)")
    return LabelledData(root=root, layout=layout, samples=samples)


def detect_layout(root: Path) -> Layout:
    """Guess the layout: a manifest wins, then AI-ArtBench's split folders, then folders."""
    if (root / MANIFEST_NAME).is_file():
        return "manifest"
    if find_artbench_root(root) is not None:
        return "artbench"
    if any(child.is_dir() for child in root.iterdir()):
        return "folders"
    raise DatasetError(
        f"cannot tell the layout of {root}: expected {MANIFEST_NAME}, AI-ArtBench's "
        "train/ and test/, or one folder per class"
    )


def find_artbench_root(root: Path) -> Path | None:
    """The folder holding ``train/`` and ``test/``: ``root`` itself or one level down."""
    for candidate in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        train, test = candidate / "train", candidate / "test"
        if (
            train.is_dir()
            and test.is_dir()
            and any(child.name.startswith(tuple(ARTBENCH_GENERATORS)) for child in train.iterdir())
        ):
            return candidate
    return None


def artbench_folder_names() -> dict[str, tuple[str, str]]:
    """All 30 expected folder names -> (generator, style)."""
    names: dict[str, tuple[str, str]] = {}
    for style in STYLES:
        names[style] = (HUMAN, style)
        for prefix, generator in ARTBENCH_GENERATORS.items():
            names[prefix + style.replace("ukiyo_e", "ukiyo-e")] = (generator, style)
    return names


def read_artbench(root: Path) -> list[Sample]:
    """Read AI-ArtBench's train and test splits exactly as downloaded."""
    base = find_artbench_root(root)
    if base is None:
        raise DatasetError(f"{root} holds no AI-ArtBench train/ and test/ folders")
    expected = artbench_folder_names()
    samples: list[Sample] = []
    for split in ("train", "test"):
        split_dir = base / split
        present = {p.name for p in split_dir.iterdir() if p.is_dir()}
        missing = sorted(set(expected) - present)
        if missing:
            raise DatasetError(
                f"AI-ArtBench {split}/ lacks {len(missing)} of its 30 folders: "
                + ", ".join(missing[:6])
                + (" ..." if len(missing) > 6 else "")
            )
        for folder, (generator, style) in sorted(expected.items()):
            label = HUMAN if generator == HUMAN else AI
            for image in iter_images(split_dir / folder):
                samples.append(Sample(str(image), label, generator, style, split))
    return samples


def read_manifest(manifest: Path) -> list[Sample]:
    """Read ``labels.csv``; paths are relative to the manifest's folder."""
    if not manifest.is_file():
        raise DatasetError(f"manifest not found: {manifest}")
    with manifest.open(newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        if not {"path", "label"} <= columns:
            raise DatasetError(f"{manifest} needs the columns path,label; it has {sorted(columns)}")
        samples = []
        for line, row in enumerate(reader, start=2):
            label = normalise_label((row.get("label") or "").strip())
            if not row.get("path") or not label:
                raise DatasetError(f"{manifest}:{line}: empty path or label")
            generator = (row.get("generator") or "").strip() or label
            style = normalise_style(row.get("style") or "")
            split = (row.get("split") or "").strip().lower()
            source = (row.get("source") or row.get("category") or "").strip()
            path = (manifest.parent / row["path"]).resolve()
            samples.append(Sample(str(path), label, generator, style, split, source))
    return samples


def read_folders(root: Path) -> list[Sample]:
    """Read a folder-per-class tree; a sub-folder below a class names the generator."""
    samples = []
    for class_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label = normalise_label(class_dir.name)
        for image in iter_images(class_dir):
            nested = image.parent != class_dir
            generator = image.parent.name if nested else label
            samples.append(Sample(str(image), label, generator, "", ""))
    return samples


def iter_images(folder: Path) -> Iterator[Path]:
    """Image files under ``folder``, recursively, in a stable order."""
    return (
        p
        for p in sorted(folder.rglob("*"))
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file() and not p.name.startswith(".")
    )


def normalise_label(label: str) -> str:
    lowered = label.strip().lower()
    if lowered in HUMAN_ALIASES:
        return HUMAN
    if lowered in AI_ALIASES:
        return AI
    return label.strip()


def normalise_style(style: str) -> str:
    style = style.strip().lower().replace("-", "_").replace(" ", "_")
    return style if style in STYLES else ""
