"""The NPR residual branch: what it computes, that it learns, and that it exports and serves."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from pydantic import ValidationError

from artifact.data.augment import AugmentConfig
from artifact.inference.litert import LiteRTModel
from artifact.inference.preprocess import PreprocessConfig
from artifact.training.backbones import create_backbone_model
from artifact.training.config import TrainConfig
from artifact.training.export import convert_to_tflite
from artifact.training.transfer import FeatureSet, TransferSettings, extract_features, fit_head, predict_head

SIZE = 32


def _reference_npr(images: np.ndarray) -> np.ndarray:
    """NPR as its paper writes it: x - interpolate(x[::2, ::2], scale 2, nearest)."""
    return images - np.repeat(np.repeat(images[:, ::2, ::2], 2, axis=1), 2, axis=2)


def _branch_model(**options):
    return create_backbone_model(
        "mobilenet_v2_0.35", input_size=SIZE, num_classes=2, weights="none", head_units=8,
        residual_branch=True, **options,
    )  # fmt: skip


def _blocky_and_fine(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class 1: half-resolution noise repeated over 2x2 blocks (what a nearest-neighbour
    upsampler leaves); class 0: noise of the same range at full resolution."""
    rng = np.random.default_rng(seed)
    half = rng.uniform(0, 255, (n, SIZE // 2, SIZE // 2, 3))
    blocky = np.repeat(np.repeat(half, 2, axis=1), 2, axis=2)
    fine = rng.uniform(0, 255, (n, SIZE, SIZE, 3))
    images = np.concatenate([fine, blocky]).round().astype(np.float32)
    return images, np.array([0] * n + [1] * n, dtype=np.int32)


def test_the_residual_is_the_image_less_its_nearest_neighbour_down_up():
    import keras

    from artifact.training.backbones import npr_residual

    image = keras.Input((SIZE, SIZE, 3))
    residual_of = keras.Model(image, npr_residual(image))
    images = np.random.default_rng(0).integers(0, 256, (3, SIZE, SIZE, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(residual_of(images)), _reference_npr(images))
    blocky, _ = _blocky_and_fine(2, seed=1)
    # An image made of constant 2x2 blocks has nothing left; fine texture does.
    block_residual = np.asarray(residual_of(blocky))
    assert np.abs(block_residual[2:]).max() == 0 and np.abs(block_residual[:2]).mean() > 20


def test_the_image_the_branch_reads_is_cached_as_the_pixels_it_was():
    backbone = _branch_model()
    pixels = np.random.default_rng(6).integers(0, 256, (4, SIZE, SIZE, 3)).astype(np.uint8)
    preprocess = PreprocessConfig(canonical_size=SIZE, input_size=SIZE, crop_mode="center")
    features = extract_features(backbone, pixels, preprocess, AugmentConfig.preset("none"), views=1,
                                batch_size=4, seed=0, description="t")  # fmt: skip
    assert features.arrays[-1].dtype == np.uint8 and features.arrays[0].dtype == np.float16
    np.testing.assert_array_equal(features.arrays[-1], pixels[features.index])


def test_the_branch_alone_learns_the_block_structure():
    """With the backbone's features blanked, only the residual can tell the classes apart."""
    backbone = _branch_model()
    images, targets = _blocky_and_fine(48, seed=2)
    held_out, held_out_targets = _blocky_and_fine(16, seed=3)

    def blanked(pixels):
        outputs = [np.asarray(o, dtype=np.float16) for o in backbone.features(pixels)]
        return FeatureSet([np.zeros_like(o) for o in outputs[:-1]] + [outputs[-1]], np.arange(len(pixels)))

    train, val = blanked(images), blanked(held_out)
    settings = TransferSettings(batch_size=16, head_epochs=12, head_learning_rate=3e-3, fine_tune_epochs=0,
                                fine_tune_learning_rate=1e-4, patience=12, seed=0)  # fmt: skip
    fit_head(backbone, train, targets, val, held_out_targets, settings)
    predicted = predict_head(backbone, val).argmax(axis=1)
    assert (predicted == held_out_targets).mean() >= 0.9


def test_the_branch_trains_a_step_exports_and_matches_litert(tmp_path):
    backbone = _branch_model()
    pixels = np.random.default_rng(4).uniform(0, 255, (8, SIZE, SIZE, 3)).astype(np.uint8)
    targets = np.array([0, 1] * 4, dtype=np.int32)
    preprocess = PreprocessConfig(canonical_size=SIZE, input_size=SIZE, crop_mode="center")
    features = extract_features(backbone, pixels, preprocess, AugmentConfig.preset("flips"), views=2,
                                batch_size=4, seed=0, description="t")  # fmt: skip
    # Cut activation, four pooled taps, and every cached view itself (the branch's input).
    assert len(features.arrays) == 6 and features.arrays[-1].shape == (16, SIZE, SIZE, 3)
    branch = backbone.classifier.get_layer("npr_conv_0")
    before = branch.get_weights()[0].copy()
    settings = TransferSettings(batch_size=4, head_epochs=1, head_learning_rate=1e-3, fine_tune_epochs=1,
                                fine_tune_learning_rate=1e-4, patience=2, seed=0)  # fmt: skip
    fit_head(backbone, features, targets, features.rows(features.index < 4), targets, settings)
    assert not np.array_equal(before, branch.get_weights()[0])  # trained from scratch with the head

    x = np.random.default_rng(5).uniform(0, 255, (3, SIZE, SIZE, 3)).astype(np.float32)
    expected = np.asarray(backbone.model(x, training=False))
    path = tmp_path / "m.tflite"
    path.write_bytes(convert_to_tflite(backbone.model))
    np.testing.assert_allclose(LiteRTModel(path).predict(x), expected, atol=1e-4)


def test_the_branch_needs_a_backbone_and_an_even_input():
    with pytest.raises(ValidationError, match="residual-branch joins a pretrained backbone"):
        TrainConfig(data=["d"], architecture="small_cnn", residual_branch=True)
    with pytest.raises(ValueError, match="input size must be even"):
        create_backbone_model("mobilenet_v2_0.35", input_size=33, num_classes=2, weights="none",
                              residual_branch=True)  # fmt: skip


def test_a_run_with_the_branch_trains_exports_and_serves_it(tmp_path):
    from artifact.cli import main
    from artifact.inference.engine import Predictor
    from tests.support.art import build_multi_source_manifest
    from tests.support.shared import shared_weights

    weights = shared_weights("mobilenet_2_5_224_tf_no_top.h5")
    data = build_multi_source_manifest(tmp_path / "multi", per_source=8)
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(out), "--architecture", "mobilenet_v1_0.25",
            "--backbone-weights", str(weights), "--image-size", "32", "--canonical-size", "32", "--epochs", "2",
            "--fine-tune-epochs", "1", "--balance", "source", "--robustness-limit", "0",
            "--invariance-per-class", "0", "--batch-size", "16", "--residual-branch"]  # fmt: skip
    assert main(args) == 0
    card = json.loads((out / "model.json").read_text())
    assert card["training"]["residual_branch"] is True
    assert card["export"]["verification"]["max_probability_difference"] < 1e-4
    # The served model carries the branch: its graph holds the residual's trained convolutions.
    lite = LiteRTModel(out / "model.tflite")
    assert any("npr_conv" in d["name"] for d in lite._interpreter.get_tensor_details())
    # And the report measured what the engine serves, branch included.
    predictor = Predictor(out)
    rows = list(csv.DictReader((out / "report/predictions.csv").open()))[:4]
    for row in rows:
        served = predictor.predict_file(row["path"])
        assert served.verdict == row["verdict"]
        assert served.prob_ai == pytest.approx(float(row["prob_ai"]), abs=1e-4)
