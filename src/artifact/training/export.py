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
import math
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from artifact import __version__
from artifact.data.canonical import canonicalize_files
from artifact.data.samples import read_samples
from artifact.errors import UserFacingError
from artifact.inference.card import CARD_FORMAT, Quantize
from artifact.inference.decision import DecisionRule
from artifact.inference.litert import LiteRTModel
from artifact.inference.preprocess import PreprocessConfig, prediction_crops
from artifact.training.keras_predict import predict_probabilities
from artifact.training.run_dir import RunDir, write_json

log = logging.getLogger(__name__)
# At most this share of held-out images may get another verdict from LiteRT than from Keras.
MAX_DISAGREEMENT = 0.005


class ExportVerificationError(UserFacingError, RuntimeError):
    """The exported model disagrees with the Keras model beyond tolerance."""


def export_run(run_dir: str | Path, quantize: Quantize = "none", verify_images: int = 200) -> dict:
    """Convert the run's Keras model, verify it with LiteRT, and write ``model.json``.

    Raises:
        ExportVerificationError: the served verdicts (labels, for tasks without one) disagree
            on more than 0.5% of the held-out images; no ``model.tflite`` is left behind then.
        UnreachableVerdictError: under the run's decision rule validation saw no ``ai`` or no
            ``human`` verdict.
    """
    run = RunDir(Path(run_dir))
    described = run.read_config()
    preprocess = PreprocessConfig(**described["config"]["preprocess"])
    metrics = json.loads(run.metrics.read_text()) if run.metrics.is_file() else {}
    rule = DecisionRule.model_validate(metrics["decision"]) if metrics.get("decision") else None
    if rule is not None:
        _require_servable(rule)
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
        verification = _verify(model, staging, held_out, preprocess, quantize, rule)
    except Exception:
        staging.unlink(missing_ok=True)
        raise
    staging.replace(run.tflite)
    card = build_card(run, described, metrics, preprocess, quantize, verification, tflite_bytes)
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


def _verify(model, tflite_path: Path, pixels: np.ndarray, preprocess, quantize, rule) -> dict:
    """Keras and LiteRT must serve the same verdicts (through the card's rule), or, for
    tasks without one, the same labels."""
    keras_probs = predict_probabilities(model, pixels, preprocess)
    engine = LiteRTModel(tflite_path)
    lite_probs = []
    for image in pixels:
        crops = prediction_crops(image, preprocess)
        lite_probs.append(engine.predict(crops).mean(axis=0))
    lite = np.stack(lite_probs)
    if rule is not None:
        (keras_prob_ai, keras_says), (lite_prob_ai, lite_says) = (
            rule.decide(1.0 - keras_probs[:, 0]),
            rule.decide(1.0 - lite[:, 0]),
        )
        agree = keras_says == lite_says
        compared = "verdict"
        prob_difference = float(np.abs(keras_prob_ai - lite_prob_ai).max())
    else:
        agree = keras_probs.argmax(axis=1) == lite.argmax(axis=1)
        compared = "label"
        prob_difference = float(np.abs(keras_probs - lite).max())
    disagreeing = int((~agree).sum())
    result = {
        "images": len(pixels),
        "quantize": quantize,
        "compared": compared,
        f"{compared}_agreement": round(float(agree.mean()), 4),
        "max_probability_difference": prob_difference,
    }
    log.info("export verification: %s", result)
    if exceeds_disagreement_limit(disagreeing, len(agree)):
        raise ExportVerificationError(
            f"LiteRT ({quantize}) gives another {compared} than Keras on {disagreeing} of "
            f"{len(agree)} held-out images (limit {MAX_DISAGREEMENT:.1%}); try --quantize none"
        )
    return result


def exceeds_disagreement_limit(disagreeing: int, images: int) -> bool:
    """Counted in whole images, so 1 of 200 at a 0.5% limit passes (no float round-off)."""
    return disagreeing > math.floor(MAX_DISAGREEMENT * images + 1e-9)


class UnreachableVerdictError(UserFacingError, ValueError):
    """The decision rule never gives one of the verdicts on validation."""


def _require_servable(rule: DecisionRule) -> None:
    from artifact.training.calibration import DecisionRuleError, require_servable

    try:
        require_servable(rule)
    except DecisionRuleError as exc:
        raise UnreachableVerdictError(f"not exported: {exc}") from exc


def build_card(run, described, metrics, preprocess, quantize, verification, tflite_bytes) -> dict:
    config = described["config"]
    keep = (
        "test_images",
        "accuracy",
        "balanced_accuracy",
        "roc_auc",
        "served",
        "human_called_ai_rate",
        "ai_called_ai_rate",
        "ai_called_human_rate",
        "uncertain_rate",
        "per_generator_served",
        "per_source",
        "robustness",
        "calibration",
        "leave_one_source_out",
    )
    card_metrics = {k: metrics[k] for k in keep if k in metrics}
    if metrics:
        # No paths of the training machine in a card any signed-in user can read.
        card_metrics["evaluated_on"] = "held-out test split of the training data"
    card = {
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
        "metrics": card_metrics,
        # Every training setting (backbone, weights, fine-tuning, views, balancing, seed...).
        "training": {
            **config,
            "data": [Path(p).name for p in config.get("data", [])],
            "dataset": _portable_dataset(described["dataset"]),
            "backbone_weights_file": described.get("backbone_weights"),  # name and sha256, or None
        },  # fmt: skip
        "export": {
            "format": "tflite",
            "quantize": quantize,
            "bytes": len(tflite_bytes),
            "verification": verification,
        },
        "sha256": hashlib.sha256(tflite_bytes).hexdigest(),
    }
    if metrics.get("decision"):
        card["decision"] = metrics["decision"]
    return card


def _portable_dataset(dataset: dict) -> dict:
    """The dataset description with folder names instead of this machine's paths."""
    portable = dict(dataset)
    portable["root"] = Path(dataset.get("root", "")).name
    portable["roots"] = [Path(p).name for p in dataset.get("roots", [])]
    return portable
