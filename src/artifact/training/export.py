"""Export a run to LiteRT (``model.tflite``), verify it, and write the model card.

Export-then-verify: the converted model runs through the LiteRT interpreter on held-out
images and must agree with the Keras model; the agreement goes into the card.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import keras
import numpy as np
import tensorflow as tf

from artifact import __version__
from artifact.data.canonical import canonicalize_files
from artifact.data.samples import read_samples
from artifact.errors import UserFacingError
from artifact.inference.litert import LiteRTModel
from artifact.inference.preprocess import PreprocessConfig, prediction_crops
from artifact.training.keras_predict import predict_probabilities
from artifact.training.run_dir import RunDir, write_json

log = logging.getLogger(__name__)
Quantize = Literal["none", "dynamic", "int8"]
MAX_DISAGREEMENT = 0.005
CARD_FORMAT = 1


class ExportVerificationError(UserFacingError, RuntimeError):
    """The exported model disagrees with the Keras model beyond tolerance."""


def export_run(run_dir: str | Path, quantize: Quantize = "none", verify_images: int = 200) -> dict:
    """Convert the run's Keras model, verify it with LiteRT, and write ``model.json``.

    Raises:
        ExportVerificationError: labels disagree on more than 0.5% of the held-out images;
            no ``model.tflite`` is left behind then.
    """
    run = RunDir(Path(run_dir))
    described = run.read_config()
    preprocess = PreprocessConfig(**described["config"]["preprocess"])
    model = keras.saving.load_model(run.keras_model, compile=False)
    held_out = _held_out_pixels(run, preprocess, verify_images)

    representative = None
    if quantize == "int8":
        calibration = _calibration_pixels(run, preprocess)

        def representative():
            for image in calibration:
                for crop in prediction_crops(image, preprocess):
                    yield [crop[None]]

    tflite_bytes = convert_to_tflite(model, quantize, representative)
    staging = run.tflite.with_suffix(".tflite.tmp")
    staging.write_bytes(tflite_bytes)
    try:
        verification = _verify(model, staging, held_out, preprocess, quantize)
    except Exception:
        staging.unlink(missing_ok=True)
        raise
    staging.replace(run.tflite)
    card = build_card(run, described, preprocess, quantize, verification, tflite_bytes)
    write_json(run.card, card)
    return card


def convert_to_tflite(model: keras.Model, quantize: Quantize = "none", representative=None) -> bytes:
    """The model as a LiteRT flatbuffer (float32, dynamic-range or full int8)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if quantize in ("dynamic", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "int8":
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    # Only builtin ops: the exported model must run on a LiteRT-only install.
    # Keras prints the whole traced signature while converting; keep the console readable.
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()


def _held_out_pixels(run: RunDir, preprocess: PreprocessConfig, limit: int) -> np.ndarray:
    samples = read_samples(run.split("test"))
    rng = np.random.default_rng(0)
    chosen = sorted(rng.permutation(len(samples))[:limit].tolist())
    canonical = canonicalize_files([samples[i].path for i in chosen], preprocess, description="verify")
    if len(canonical.kept) == 0:
        raise ExportVerificationError("no held-out images to verify the export on")
    return canonical.pixels


def _calibration_pixels(run: RunDir, preprocess: PreprocessConfig, limit: int = 100) -> np.ndarray:
    samples = read_samples(run.split("val"))[:limit]
    return canonicalize_files([s.path for s in samples], preprocess, description="int8").pixels


def _verify(model, tflite_path: Path, pixels: np.ndarray, preprocess, quantize) -> dict:
    keras_probs = predict_probabilities(model, pixels, preprocess)
    engine = LiteRTModel(tflite_path)
    lite_probs = []
    for image in pixels:
        crops = prediction_crops(image, preprocess)
        lite_probs.append(engine.predict(crops).mean(axis=0))
    lite = np.stack(lite_probs)
    agree = keras_probs.argmax(axis=1) == lite.argmax(axis=1)
    result = {
        "images": len(pixels),
        "quantize": quantize,
        "label_agreement": round(float(agree.mean()), 4),
        "max_probability_difference": float(np.abs(keras_probs - lite).max()),
    }
    log.info("export verification: %s", result)
    if 1.0 - agree.mean() > MAX_DISAGREEMENT:
        raise ExportVerificationError(
            f"LiteRT ({quantize}) disagrees with Keras on {int((~agree).sum())} of "
            f"{len(agree)} held-out images (limit {MAX_DISAGREEMENT:.1%}); try --quantize none"
        )
    return result


def build_card(run, described, preprocess, quantize, verification, tflite_bytes) -> dict:
    config = described["config"]
    metrics = json.loads(run.metrics.read_text()) if run.metrics.is_file() else {}
    calibration = metrics.get("calibration", {})
    keep = (
        "evaluated_on",
        "test_images",
        "accuracy",
        "balanced_accuracy",
        "roc_auc",
        "human_called_ai_rate",
        "ai_missed_rate",
        "uncertain_rate",
        "per_generator",
        "per_source",
        "robustness",
        "calibration",
        "leave_one_source_out",
    )
    return {
        "card_format": CARD_FORMAT,
        "name": run.root.resolve().name,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "artifact_version": __version__,
        "task": config["task"],
        "labels": described["class_names"],
        "positive_label": "ai",
        "input": {
            "shape": [preprocess.input_size, preprocess.input_size, 3],
            "dtype": "float32",
            "range": "0..255 RGB (the model rescales)",
        },
        "preprocess": preprocess.model_dump(),
        "threshold": calibration.get("threshold", 0.5),
        "uncertain_band": [
            calibration.get("uncertain_low", 0.4),
            calibration.get("uncertain_high", 0.6),
        ],
        "metrics": {k: metrics[k] for k in keep if k in metrics},
        # Every training setting (backbone, weights, fine-tuning, views, balancing, seed...).
        "training": {**config, "dataset": described["dataset"]},
        "export": {
            "format": "tflite",
            "quantize": quantize,
            "bytes": len(tflite_bytes),
            "verification": verification,
        },
        "sha256": hashlib.sha256(tflite_bytes).hexdigest(),
    }
