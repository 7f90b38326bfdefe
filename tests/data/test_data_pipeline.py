"""The tf.data pipeline: shapes, augmentation only in training, repeated crops."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from artifact.data.augment import AugmentConfig
from artifact.inference.preprocess import PreprocessConfig

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pixels():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (10, 48, 48, 3), dtype=np.uint8)


def test_train_batches_are_cropped_augmented_and_every_image_seen(pixels):
    from artifact.data.pipeline import make_train_dataset

    config = PreprocessConfig(canonical_size=48, input_size=40)
    targets = np.arange(10) % 2
    dataset = make_train_dataset(
        pixels, targets, config, AugmentConfig.preset("strong"), batch_size=4, seed=0
    )
    batches = list(dataset)
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    assert batches[0][0].shape[1:] == (40, 40, 3) and batches[0][0].dtype.name == "float32"
    labels = np.concatenate([b[1].numpy() for b in batches])
    assert sorted(labels.tolist()) == sorted(targets.tolist())
    images = np.concatenate([b[0].numpy() for b in batches])
    assert images.min() >= 0 and images.max() <= 255
    # Strong augmentation changes pixels: no training crop equals any plain crop.
    plain = {
        pixels[i, y : y + 40, x : x + 40].astype(np.float32).tobytes()
        for i in range(10)
        for y in range(9)
        for x in range(9)
    }
    assert sum(image.tobytes() in plain for image in images) < len(images)


def test_crops_per_image_repeats_each_image_per_epoch(pixels):
    from artifact.data.pipeline import make_train_dataset

    config = PreprocessConfig(canonical_size=48, input_size=40)
    dataset = make_train_dataset(
        pixels, np.arange(10), config, AugmentConfig.preset("flips"), batch_size=8, seed=0, crops_per_image=3
    )
    labels = np.concatenate([b[1].numpy() for b in dataset])
    assert sorted(labels.tolist()) == sorted(list(range(10)) * 3)


def test_eval_dataset_is_the_deterministic_centre_crop(pixels):
    from artifact.data.pipeline import make_eval_dataset

    config = PreprocessConfig(canonical_size=48, input_size=40)
    first = np.concatenate(
        [b[0].numpy() for b in make_eval_dataset(pixels, np.zeros(10), config, batch_size=4)]
    )
    np.testing.assert_array_equal(first, pixels[:, 4:44, 4:44].astype(np.float32))


def test_both_classes_draw_one_processing_distribution():
    """The shared chain: the same draws for human and AI images, plus the AI images' first
    compression, so neither class keeps a processing history of its own."""
    from artifact.data.processing import ProcessingChain, encode_decode

    rng = np.random.default_rng(0)
    source = Image.fromarray(rng.integers(0, 255, (96, 128, 3), dtype=np.uint8))
    chain = ProcessingChain()
    sizes = {True: [], False: []}
    for index in range(400):
        for is_ai in (True, False):
            out = chain.apply(source, is_ai, np.random.default_rng([7, index]))
            sizes[is_ai].append(out.size)
    # Same seed -> same downscale draws whatever the class: identical size distributions.
    assert sizes[True] == sizes[False]
    downscaled = np.mean([size != source.size for size in sizes[False]])
    assert 0.4 < downscaled < 0.6  # downscale_prob 0.5
    # With every optional step off, a human image passes untouched and an AI image is
    # exactly one JPEG round trip at a quality of the measured human range.
    off = ProcessingChain(downscale_prob=0, jpeg_prob=0, palette_prob=0, blur_prob=0,
                          ai_precompress_quality=(80, 80))  # fmt: skip
    assert np.array_equal(np.asarray(off.apply(source, False, rng)), np.asarray(source))
    assert np.array_equal(
        np.asarray(off.apply(source, True, rng)), np.asarray(encode_decode(source, "JPEG", 80))
    )
    # Seeded per (seed, index): the training cache does not depend on thread order.
    process = chain.for_split([True, False], seed=3)
    assert np.array_equal(np.asarray(process(0, source)), np.asarray(process(0, source)))
