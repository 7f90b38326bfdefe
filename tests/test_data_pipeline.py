"""The tf.data pipeline: shapes, augmentation only in training, repeated crops."""

from __future__ import annotations

import numpy as np
import pytest

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
