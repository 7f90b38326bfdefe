"""Decode and canonicalise a list of image files once, in parallel, into one uint8 array.

This is the pipeline's cache: training then reads canonical pixels every epoch and only
augmentation runs per epoch. Unreadable files are skipped and reported, never fatal.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from artifact.inference.decode import DecodeLimits, ImageDecodeError, read_image_file
from artifact.inference.preprocess import PreprocessConfig, canonicalize, native_window

log = logging.getLogger(__name__)
Perturbation = Callable[[Image.Image], Image.Image]
# Per-image processing that depends on the image's position in the list (its label, its seed).
IndexedProcessing = Callable[[int, Image.Image], Image.Image]
# Above this many bytes the cache lives in a memory-mapped file instead of RAM.
IN_MEMORY_LIMIT = 4 * 1024**3
# Training data may hold images larger than an upload may be.
FILE_LIMITS = DecodeLimits(max_bytes=1 << 31, max_pixels=200_000_000, min_side=1)


@dataclass
class CanonicalImages:
    """Canonical pixels of the files that decoded, and the errors of those that did not."""

    pixels: np.ndarray  # (n_ok, size, size, 3) uint8
    kept: list[int]  # indices into the input list
    errors: list[tuple[str, str]] = field(default_factory=list)  # (path, message)


def canonicalize_files(
    paths: list[str],
    config: PreprocessConfig,
    *,
    perturb: Perturbation | None = None,
    process: IndexedProcessing | None = None,
    workers: int | None = None,
    cache_file: Path | None = None,
    description: str = "canonicalising",
    progress: bool = True,
) -> CanonicalImages:
    """Canonicalise every file, optionally perturbed first (robustness tests) or processed by
    index (training's shared processing chain, :mod:`artifact.data.processing`).

    Threads are enough: Pillow releases the GIL while decoding, resizing and encoding.
    """
    size = config.canonical_size
    shape = (len(paths), size, size, 3)
    nbytes = int(np.prod(shape))
    if cache_file is not None and nbytes > IN_MEMORY_LIMIT:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        pixels = np.lib.format.open_memmap(cache_file, mode="w+", dtype=np.uint8, shape=shape)
    else:
        pixels = np.empty(shape, dtype=np.uint8)
    ok = np.zeros(len(paths), dtype=bool)
    errors: list[tuple[str, str]] = []

    def work(index: int) -> None:
        try:
            image = read_image_file(paths[index], FILE_LIMITS)
            if perturb is not None:
                image = perturb(image)
            if process is not None:
                image = process(index, image)
            pixels[index] = canonicalize(image, config)
            ok[index] = True
        except ImageDecodeError as exc:
            errors.append((paths[index], exc.message))

    workers = workers or min(8, os.cpu_count() or 2)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        jobs = pool.map(work, range(len(paths)))
        if progress and len(paths) > 50:
            from rich.progress import track

            jobs = track(jobs, total=len(paths), description=description, transient=True)
        for _ in jobs:
            pass
    kept = np.flatnonzero(ok).tolist()
    for path, message in errors:
        log.warning("skipped unreadable image %s: %s", path, message)
    if len(kept) < len(paths):
        pixels = pixels[kept] if not isinstance(pixels, np.memmap) else _compact(pixels, kept)
    return CanonicalImages(pixels=pixels, kept=kept, errors=sorted(errors))


def _compact(pixels: np.memmap, kept: list[int]) -> np.memmap:
    """Move the kept rows to the front of the memmap (in place) and return that view."""
    for new, old in enumerate(kept):
        if new != old:
            pixels[new] = pixels[old]
    return pixels[: len(kept)]


def native_windows(
    config: PreprocessConfig, process: IndexedProcessing | None, seed: int | None
) -> IndexedProcessing:
    """``process`` followed by the native view's cached square (:func:`native_window`).

    With ``seed`` (training) each image's scale and square are drawn, seeded by (seed, index)
    on a stream apart from the processing chain's; without it they are the served ones.
    """

    def window(index: int, image: Image.Image) -> Image.Image:
        if process is not None:
            image = process(index, image)
        rng = None if seed is None else np.random.default_rng([seed, index, 1])
        return native_window(image, config, rng)

    return window
