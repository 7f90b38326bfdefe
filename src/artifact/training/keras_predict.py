"""Score canonical images with a Keras model, crop for crop as the LiteRT engine does."""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from artifact.inference.preprocess import PreprocessConfig, crop_boxes, prediction_crops


def compiled_inference(model: Callable) -> Callable:
    """``model(x, training=False)`` traced into one TensorFlow graph.

    An eager call of a Keras functional model keeps every layer's output alive until the call
    returns; the graph frees each intermediate tensor once it is used. For MobileNetV2 with
    its taps that is ~6 GB against ~1.8 GB for 64 images, and it is faster too.
    """
    return tf.function(lambda x: model(x, training=False), reduce_retracing=True)


def predict_probabilities(
    model: keras.Model, pixels: np.ndarray, preprocess: PreprocessConfig, batch_size: int = 64
) -> np.ndarray:
    """Mean class probabilities over each image's prediction crops, shape (n, classes).

    At most ``batch_size`` crops go through the model at once, whatever the crop mode: five
    crops of 64 images at once took a 24 GB machine out of memory.
    """
    per_image = len(crop_boxes(preprocess))
    images_per_call = max(1, batch_size // per_image)
    infer = compiled_inference(model)
    results = []
    for start in range(0, len(pixels), images_per_call):
        chunk = pixels[start : start + images_per_call]
        batch = np.concatenate([prediction_crops(image, preprocess) for image in chunk])
        probs = np.asarray(infer(batch))
        results.append(probs.reshape(len(chunk), per_image, -1).mean(axis=1))
    if not results:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.concatenate(results).astype(np.float32)
