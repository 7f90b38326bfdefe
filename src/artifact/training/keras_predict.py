"""Score canonical images with a Keras model, crop for crop as the LiteRT engine does."""

from __future__ import annotations

import keras
import numpy as np

from artifact.inference.preprocess import PreprocessConfig, prediction_crops


def predict_probabilities(
    model: keras.Model, pixels: np.ndarray, preprocess: PreprocessConfig, batch_size: int = 64
) -> np.ndarray:
    """Mean class probabilities over each image's prediction crops, shape (n, classes)."""
    results = []
    for start in range(0, len(pixels), batch_size):
        crops = [prediction_crops(image, preprocess) for image in pixels[start : start + batch_size]]
        per_image = crops[0].shape[0] if crops else 1
        batch = np.concatenate(crops)
        # model(x, training=False), not predict(): no per-call overhead, inference-mode BN.
        probs = np.asarray(model(batch, training=False))
        results.append(probs.reshape(len(crops), per_image, -1).mean(axis=1))
    if not results:
        return np.zeros((0, model.output_shape[-1]), dtype=np.float32)
    return np.concatenate(results).astype(np.float32)
