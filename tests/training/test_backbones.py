"""Pretrained-backbone detectors: build, train a step, export, and match LiteRT."""

from __future__ import annotations

import hashlib
from pathlib import Path

import keras
import numpy as np
import pytest

from artifact.data.augment import AugmentConfig
from artifact.inference.litert import LiteRTModel
from artifact.inference.preprocess import PreprocessConfig
from artifact.training.backbones import (
    BACKBONES,
    BackboneWeightsError,
    create_backbone_model,
    resolve_weights,
    set_top_trainable,
)
from artifact.training.export import convert_to_tflite
from artifact.training.transfer import TransferSettings, extract_features, fit_head

SHARED_WEIGHTS = Path(__file__).resolve().parents[2].parent / "shared" / "weights"
SIZE = 48


def _images(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (n, SIZE, SIZE, 3)).astype(np.float32)


@pytest.mark.parametrize("architecture", sorted(BACKBONES))
def test_backbone_trains_a_step_exports_and_matches_litert(architecture, tmp_path):
    backbone = create_backbone_model(
        architecture, input_size=SIZE, num_classes=2, weights="none", head_units=8
    )
    pixels = _images(8).astype(np.uint8)
    targets = np.array([0, 1] * 4, dtype=np.int32)
    preprocess = PreprocessConfig(canonical_size=SIZE, input_size=SIZE, crop_mode="center")
    features = extract_features(
        backbone,
        pixels,
        preprocess,
        AugmentConfig.preset("flips"),
        views=2,
        batch_size=4,
        seed=0,
        description="t",
    )
    assert len(features) == 16 and sorted(set(features.index.tolist())) == list(range(8))
    before = [w.copy() for w in backbone.head.get_weights()]
    settings = TransferSettings(batch_size=4, head_epochs=1, head_learning_rate=1e-3, fine_tune_epochs=1,
                                fine_tune_learning_rate=1e-4, patience=2, seed=0)  # fmt: skip
    fit_head(backbone, features, targets, features.rows(features.index < 4), targets, settings)
    assert any(not np.array_equal(a, b) for a, b in zip(before, backbone.head.get_weights(), strict=True))

    x = _images(3, seed=1)
    expected = np.asarray(backbone.model(x, training=False))
    lite = LiteRTModel(_write(tmp_path / "m.tflite", convert_to_tflite(backbone.model)))
    assert tuple(lite.input_shape)[-3:] == (SIZE, SIZE, 3)  # raw 0..255 pixels in: the scaling is inside
    np.testing.assert_allclose(lite.predict(x), expected, atol=1e-4)


def test_batchnorm_stays_in_inference_mode_while_fine_tuning():
    """The folded-BN trap: batch statistics must never replace the stored ones."""
    backbone = create_backbone_model("mobilenet_v2_0.35", input_size=SIZE, num_classes=2, weights="none")
    set_top_trainable(backbone, True)
    bn = [layer for layer in backbone.model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    x = _images(4)
    # In training mode, a BN layer that followed the batch would change these outputs
    # (the head's dropout is left out: it is meant to differ).
    for mode in (True, False):
        cut = backbone.features(x, training=mode)[0]
        pooled = np.asarray(backbone.top_pooled(cut, training=mode))
        if mode:
            in_training = pooled
    np.testing.assert_allclose(in_training, pooled, atol=1e-5)
    trainable_names = {w.path for w in backbone.model.trainable_weights}
    assert trainable_names, "the top blocks must be trainable while fine-tuning"
    assert not any("BN" in name or "batch_norm" in name for name in trainable_names)
    assert all(not layer.trainable for layer in bn)
    set_top_trainable(backbone, False)
    assert {w.path for w in backbone.model.trainable_weights} <= {
        w.path for w in backbone.classifier.trainable_weights
    }


def test_weights_load_from_a_file_path(tmp_path):
    source = keras.applications.MobileNet(
        input_shape=(SIZE, SIZE, 3), alpha=0.25, include_top=False, weights=None
    )
    path = tmp_path / "v1.weights.h5"
    source.save_weights(path)
    backbone = create_backbone_model("mobilenet_v1_0.25", input_size=SIZE, num_classes=2, weights=str(path))
    loaded = backbone.features.get_layer("frozen_lower").get_layer("conv1").get_weights()[0]
    np.testing.assert_array_equal(loaded, source.get_layer("conv1").get_weights()[0])


def test_weights_argument_is_checked():
    assert resolve_weights("none") is None and resolve_weights("imagenet") == "imagenet"
    with pytest.raises(BackboneWeightsError, match="not found"):
        resolve_weights("/no/such/weights.h5")


def test_a_known_weights_file_with_the_wrong_hash_is_refused_and_hashes_are_recorded(tmp_path):
    from artifact.training.backbones import KNOWN_WEIGHTS, weights_identity

    impostor = _write(tmp_path / "mobilenet_2_5_224_tf_no_top.h5", b"half a download")
    assert impostor.name in KNOWN_WEIGHTS
    with pytest.raises(BackboneWeightsError, match="truncated or altered copy"):
        resolve_weights(str(impostor))
    own = _write(tmp_path / "my-own.weights.h5", b"someone's fine-tuned weights")
    digest = hashlib.sha256(b"someone's fine-tuned weights").hexdigest()
    assert weights_identity(str(own)) == {"source": "file", "file": "my-own.weights.h5", "sha256": digest}
    assert weights_identity("imagenet") == {"source": "imagenet", "file": None, "sha256": None}


# Feature checksums of each shared file on a fixed input (rng 0, 2 images of 96 px): mean, std
# and sum of |x| of the cut activation. A wrong file, a wrong layer or folded BatchNorm run in
# training mode moves them far more than numerical noise (rtol 1e-3).
FEATURE_CHECKSUMS = {
    "mobilenet_v1_0.25": (0.64975, 1.14009, 2994.06),
    "mobilenet_v2_0.35": (0.14510, 3.44508, 2828.06),
    "mobilenet_v2_1.0": (0.15882, 1.93715, 4393.60),
}


SHARED_FILES = {
    "mobilenet_v2_1.0": "mobilenet_v2_1.0_224_no_top_from_coral_quant_tflite.weights.h5",
    "mobilenet_v2_0.35": "mobilenet_v2_0.35_224_no_top_from_teachable_machine.weights.h5",
    "mobilenet_v1_0.25": "mobilenet_2_5_224_tf_no_top.h5",
}


@pytest.mark.shared_data
@pytest.mark.parametrize("architecture", sorted(SHARED_FILES))
def test_each_shared_weights_file_loads_and_gives_informative_features(architecture):
    path = SHARED_WEIGHTS / SHARED_FILES[architecture]
    if not path.is_file():
        pytest.skip(f"{path} is absent: the shared ImageNet weights are not on this machine")
    backbone = create_backbone_model(architecture, input_size=96, num_classes=2, weights=str(path))
    random = create_backbone_model(architecture, input_size=96, num_classes=2, weights="none")
    x = np.random.default_rng(0).uniform(0, 255, (2, 96, 96, 3)).astype(np.float32)
    loaded = np.asarray(backbone.features(x)[0])
    assert np.isfinite(loaded).all() and loaded.std() > 0
    assert not np.allclose(loaded, np.asarray(random.features(x)[0]))
    checksum = (loaded.mean(), loaded.std(), np.abs(loaded).sum())
    np.testing.assert_allclose(checksum, FEATURE_CHECKSUMS[architecture], rtol=1e-3)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_the_architecture_registry_is_the_one_list():
    from artifact.cli import build_parser
    from artifact.training.architectures import ARCHITECTURES, BACKBONE_NAMES, SCRATCH_NAMES
    from artifact.training.backbones import BACKBONES
    from artifact.training.models import ARCHITECTURES as CNNS

    assert set(BACKBONES) == set(BACKBONE_NAMES) and set(CNNS) == set(SCRATCH_NAMES)
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    choices = next(a.choices for a in train._actions if a.dest == "architecture")
    assert list(choices) == list(ARCHITECTURES)
