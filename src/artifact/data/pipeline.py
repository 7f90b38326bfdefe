"""tf.data input pipelines over canonical pixels, with Keras preprocessing layers.

The modern form of the recipe's ``ImageDataGenerator``: the expensive decode and
canonicalisation ran once (see :mod:`artifact.data.canonical`), so an epoch costs only
the random degradations, crops and flips, done in parallel and prefetched.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from keras import layers

from artifact.data.augment import AugmentConfig
from artifact.inference.preprocess import PreprocessConfig, crop_boxes

AUTOTUNE = tf.data.AUTOTUNE


def _reader(pixels: np.ndarray, size: int):
    def read(index: tf.Tensor) -> tf.Tensor:
        image = tf.numpy_function(lambda i: np.asarray(pixels[i]), [index], tf.uint8)
        image.set_shape((size, size, 3))
        return image

    return read


def make_train_dataset(
    pixels: np.ndarray,
    targets: np.ndarray,
    preprocess: PreprocessConfig,
    augment: AugmentConfig,
    *,
    batch_size: int,
    seed: int,
    crops_per_image: int = 1,
) -> tf.data.Dataset:
    """Shuffled, augmented, batched and prefetched (image float32 0..255, target) pairs.

    With ``crops_per_image`` > 1 every image appears that many times per epoch, each time
    with another random crop and degradation: small-data training sees more of each image.
    """
    size = preprocess.canonical_size
    read = _reader(pixels, size)
    degrade = _degradation(augment, size)
    labels = tf.constant(np.asarray(targets, dtype=np.int32))
    count = len(targets) * crops_per_image
    indices = (
        tf.data.Dataset.range(count)
        .map(lambda i: i % len(targets))
        .shuffle(count, seed=seed, reshuffle_each_iteration=True)
    )
    dataset = indices.map(
        lambda i: (degrade(read(i)), tf.gather(labels, i)), num_parallel_calls=AUTOTUNE
    ).batch(batch_size)
    geometry = _geometry(preprocess, augment, seed)
    if geometry is not None:
        dataset = dataset.map(lambda x, y: (geometry(x, training=True), y), num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)


def make_view_dataset(
    pixels: np.ndarray,
    preprocess: PreprocessConfig,
    augment: AugmentConfig,
    *,
    views: int,
    batch_size: int,
    seed: int,
) -> tf.data.Dataset:
    """``views`` augmented copies of every image, in order, as batches of (index, image).

    Used to cache a frozen backbone's output once per view instead of once per epoch.
    """
    size = preprocess.canonical_size
    read = _reader(pixels, size)
    degrade = _degradation(augment, size)
    count = len(pixels) * views
    dataset = (
        tf.data.Dataset.range(count)
        .map(lambda i: i % len(pixels))
        .map(lambda i: (i, degrade(read(i))), num_parallel_calls=AUTOTUNE, deterministic=True)
        .batch(batch_size)
    )
    geometry = _geometry(preprocess, augment, seed)
    if geometry is not None:
        dataset = dataset.map(lambda i, x: (i, geometry(x, training=True)), num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)


def _geometry(preprocess: PreprocessConfig, augment: AugmentConfig, seed: int):
    """Random crop to the model input and horizontal flip, as Keras preprocessing layers."""
    size, side = preprocess.canonical_size, preprocess.input_size
    geometry = []
    if side < size:
        geometry.append(
            layers.RandomCrop(side, side, seed=seed) if augment.random_crop else layers.CenterCrop(side, side)
        )
    if augment.flip:
        geometry.append(layers.RandomFlip("horizontal", seed=seed))
    return tf.keras.Sequential(geometry) if geometry else None


def make_eval_dataset(
    pixels: np.ndarray, targets: np.ndarray, preprocess: PreprocessConfig, *, batch_size: int
) -> tf.data.Dataset:
    """Centre crops, cached after the first pass (used for validation during training)."""
    size, side = preprocess.canonical_size, preprocess.input_size
    top, left = crop_boxes(preprocess.model_copy(update={"crop_mode": "center"}))[0]
    read = _reader(pixels, size)
    labels = tf.constant(np.asarray(targets, dtype=np.int32))
    dataset = tf.data.Dataset.range(len(targets)).map(
        lambda i: (
            tf.cast(read(i)[top : top + side, left : left + side], tf.float32),
            tf.gather(labels, i),
        ),
        num_parallel_calls=AUTOTUNE,
    )
    return dataset.cache().batch(batch_size).prefetch(AUTOTUNE)


def _degradation(augment: AugmentConfig, size: int):
    """Per-image random JPEG re-compression, down-and-up rescaling and Gaussian blur."""

    def apply(image: tf.Tensor) -> tf.Tensor:
        if augment.jpeg_prob > 0:
            image = tf.cond(
                tf.random.uniform(()) < augment.jpeg_prob,
                lambda: tf.image.random_jpeg_quality(
                    image, augment.jpeg_quality_min, augment.jpeg_quality_max
                ),
                lambda: image,
            )
        image = tf.cast(image, tf.float32)
        if augment.rescale_prob > 0:
            image = tf.cond(
                tf.random.uniform(()) < augment.rescale_prob,
                lambda: _rescale(image, size, augment.rescale_min),
                lambda: image,
            )
        if augment.blur_prob > 0:
            image = tf.cond(
                tf.random.uniform(()) < augment.blur_prob,
                lambda: _blur(image, tf.random.uniform((), 0.3, augment.blur_sigma_max)),
                lambda: image,
            )
        image = tf.clip_by_value(image, 0.0, 255.0)
        image.set_shape((size, size, 3))  # tf.cond branches lose the static shape
        return image

    return apply


def _rescale(image: tf.Tensor, size: int, minimum: float) -> tf.Tensor:
    factor = tf.random.uniform((), minimum, 1.0)
    small = tf.cast(tf.round(size * factor), tf.int32)
    down = tf.image.resize(image, tf.stack([small, small]), antialias=True)
    return tf.image.resize(down, (size, size), method="bicubic")


def _blur(image: tf.Tensor, sigma: tf.Tensor, radius: int = 2) -> tf.Tensor:
    offsets = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel_1d = tf.exp(-(offsets**2) / (2.0 * sigma**2))
    kernel_1d /= tf.reduce_sum(kernel_1d)
    kernel = tf.tensordot(kernel_1d, kernel_1d, axes=0)[:, :, None, None]
    kernel = tf.tile(kernel, (1, 1, 3, 1))
    padded = tf.pad(image[None], [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT")
    return tf.nn.depthwise_conv2d(padded, kernel, (1, 1, 1, 1), "VALID")[0]
