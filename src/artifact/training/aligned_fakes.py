"""Aligned fakes: human training art passed through an autoencoder, added as AI examples.

A pair of one artwork and its autoencoded twin differs only in what the decoder leaves in the
pixels, so content, style and subject cannot tell the classes apart and the detector must learn
the decoder's traces: those of FLUX.2 (TAEF2 imitates its autoencoder) and of the autoencoders
other latent generators share. The twins join the training split only (never validation or
test, where they would be the training images' own content), as one more AI source, and then
draw the same shared processing history as every other AI image.

Each twin is made at the canonical size (the image resized and centre-cropped as the canonical
view would), so the decoder's traces sit at the scale the model reads them.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np
from PIL import Image

from artifact.data.canonical import FILE_LIMITS
from artifact.data.samples import AI, HUMAN, Sample, source_of
from artifact.inference.decode import ImageDecodeError, read_image_file
from artifact.inference.preprocess import square
from artifact.training.tiny_autoencoder import TinyAutoencoder

log = logging.getLogger(__name__)
SOURCE = "taef2-aligned"
GENERATOR = "taef2"


def choose_originals(train: list[Sample], count: int, seed: int) -> list[Sample]:
    """``count`` human training images (all of them if fewer), seeded, in path order."""
    humans = sorted((s for s in train if s.label == HUMAN), key=lambda s: s.path)
    return sorted(random.Random(seed).sample(humans, min(count, len(humans))), key=lambda s: s.path)


def make_aligned_fakes(
    train: list[Sample], count: int, weights_dir: str, size: int, folder: Path, seed: int
) -> list[Sample]:
    """Write the autoencoded twins of ``count`` human training images into ``folder`` (PNG, one
    per original; those already there are kept, so a resumed run reuses them) and return them
    as AI samples. Originals that do not decode are left out, as training would leave them."""
    originals = choose_originals(train, count, seed)
    folder.mkdir(parents=True, exist_ok=True)
    autoencoder = None
    fakes: list[Sample] = []
    for index, original in enumerate(originals):
        target = folder / f"{index:05d}.png"
        if not target.is_file():
            try:
                image = square(read_image_file(original.path, FILE_LIMITS), size)
            except ImageDecodeError as exc:
                log.warning("no aligned fake of %s: %s", original.path, exc.message)
                continue
            autoencoder = autoencoder or TinyAutoencoder(weights_dir)
            twin = autoencoder.round_trip(np.asarray(image))
            partial = target.with_suffix(".partial")
            Image.fromarray(twin).save(partial, format="PNG")
            partial.replace(target)  # a stop mid-write leaves no half image to reuse
            if (index + 1) % 100 == 0:
                log.info("aligned fakes: %d/%d", index + 1, len(originals))
        fakes.append(
            Sample(
                str(target), AI, generator=GENERATOR, style=original.style, source=SOURCE,
                derived_from=source_of(original),
            )  # fmt: skip
        )
    return fakes
