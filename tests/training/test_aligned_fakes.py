"""Aligned fakes: TAEF2 computes what its PyTorch original computes, and the autoencoded twins of
human training art join the training split as AI, and only it."""

from __future__ import annotations

import csv
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from artifact.data.samples import AI, HUMAN, Sample
from artifact.inference.preprocess import square
from artifact.training import tiny_autoencoder
from artifact.training.aligned_fakes import SOURCE, choose_originals, make_aligned_fakes
from artifact.training.tiny_autoencoder import (
    DECODER_FILE,
    ENCODER_FILE,
    AutoencoderWeightsError,
    TinyAutoencoder,
    decoder,
    encoder,
    load_state_dict,
    torch_keys,
)
from tests.training.fixtures.make_torch_references import taef2_input, taef2_random_state

FIXTURES = Path(__file__).parent / "fixtures"


def _seeded_state(model) -> dict[str, np.ndarray]:
    """The fixture's seeded weights, drawn for the PyTorch shapes of ``model``'s weights: a
    network with another key or shape than PyTorch's draws other numbers and fails the match."""

    def torch_shape(shape):
        return (shape[3], shape[2], shape[0], shape[1]) if len(shape) == 4 else tuple(shape)

    return taef2_random_state({key: torch_shape(v.shape) for key, v in torch_keys(model).items()})


def test_taef2_computes_what_the_pytorch_network_computes():
    reference = np.load(FIXTURES / "taef2_reference.npz")
    enc, dec = encoder(), decoder()
    load_state_dict(enc, _seeded_state(enc), "encoder")
    load_state_dict(dec, _seeded_state(dec), "decoder")
    latents = enc(taef2_input()[None].astype(np.float32) / 255.0).numpy()[0]
    assert latents.shape == reference["latents"].shape == (3, 4, 32)
    np.testing.assert_allclose(latents, reference["latents"], atol=1e-4)
    decoded = dec(reference["latents"][None]).numpy()[0]
    np.testing.assert_allclose(decoded, reference["decoded"], atol=1e-4)


def test_weights_of_another_network_or_a_missing_file_are_refused(tmp_path):
    enc = encoder()
    state = _seeded_state(enc)
    with pytest.raises(AutoencoderWeightsError, match=r"x.pth is not a TAEF2 encoder \(missing \['0.bias'\]"):
        load_state_dict(enc, {k: v for k, v in state.items() if k != "0.bias"}, "x.pth")
    with pytest.raises(AutoencoderWeightsError, match=r"x.pth: 0.weight has shape \(3, 3, 3, 16\)"):
        load_state_dict(enc, {**state, "0.weight": np.zeros((16, 3, 3, 3), np.float32)}, "x.pth")
    with pytest.raises(AutoencoderWeightsError, match=f"{ENCODER_FILE} is missing: --autoencoder-weights names"):
        TinyAutoencoder(tmp_path)
    (tmp_path / ENCODER_FILE).write_bytes(b"")
    with pytest.raises(AutoencoderWeightsError, match=f"{DECODER_FILE} is missing"):
        TinyAutoencoder(tmp_path)


def test_a_run_without_the_autoencoder_is_refused_before_it_starts(tmp_path):
    from artifact.training.config import TrainConfig
    from artifact.training.train import train

    config = TrainConfig(data=["nowhere"], architecture="small_cnn", aligned_fakes=5, autoencoder_weights=str(tmp_path))
    with pytest.raises(AutoencoderWeightsError, match="is missing"):
        train(config, tmp_path / "run")  # before the missing data is even looked for
    assert not (tmp_path / "run").exists()


@pytest.fixture
def seeded_autoencoder(tmp_path, monkeypatch) -> Path:
    """A weights folder whose files read as the fixture's seeded TAEF2 (the reader of PyTorch
    files is tested on its own, in test_efficientnet_lite.py)."""
    folder = tmp_path / "taesd"
    folder.mkdir()
    states = {ENCODER_FILE: _seeded_state(encoder()), DECODER_FILE: _seeded_state(decoder())}
    for name in states:
        (folder / name).write_bytes(name.encode())
    monkeypatch.setattr(tiny_autoencoder, "read_state_dict", lambda path: states[Path(path).name])
    return folder


def _art(tmp_path: Path, humans: int, ais: int) -> list[Sample]:
    rng = np.random.default_rng(5)
    samples = []
    for label, count in ((HUMAN, humans), (AI, ais)):
        for i in range(count):
            path = tmp_path / "art" / f"{label}_{i}.jpg"
            path.parent.mkdir(exist_ok=True)
            size = (int(rng.integers(40, 90)), int(rng.integers(40, 90)))  # not square, not 8k
            Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path, quality=80)
            samples.append(Sample(str(path), label, source=f"{label}-source"))
    return samples


def test_twins_are_the_autoencoded_canonical_squares_of_human_training_art(tmp_path, seeded_autoencoder):
    train = _art(tmp_path, humans=6, ais=3)
    folder = tmp_path / "fakes"
    fakes = make_aligned_fakes(train, 4, str(seeded_autoencoder), 48, folder, seed=3)
    originals = choose_originals(train, 4, seed=3)
    assert len(fakes) == 4 and all(o.label == HUMAN for o in originals)
    assert {(f.label, f.source) for f in fakes} == {(AI, SOURCE)}
    autoencoder = TinyAutoencoder(seeded_autoencoder)
    for fake, original in zip(fakes, originals, strict=True):
        expected = autoencoder.round_trip(np.asarray(square(Image.open(original.path), 48)))
        np.testing.assert_array_equal(np.asarray(Image.open(fake.path)), expected)
    # Seeded: the same originals again; asking for more than there are gives every human image.
    assert choose_originals(train, 4, seed=3) == originals != choose_originals(train, 4, seed=4)
    assert len(choose_originals(train, 99, seed=3)) == 6
    # A resumed run keeps the twins it made and makes only the missing one.
    made = {f.path: os.stat(f.path).st_mtime_ns for f in fakes}
    Path(fakes[1].path).unlink()
    again = make_aligned_fakes(train, 4, str(seeded_autoencoder), 48, folder, seed=3)
    assert [f.path for f in again] == [f.path for f in fakes]
    assert [os.stat(f.path).st_mtime_ns == made[f.path] for f in again] == [True, False, True, True]


def test_an_unreadable_original_gets_no_twin(tmp_path, seeded_autoencoder):
    train = _art(tmp_path, humans=2, ais=1)
    Path(train[0].path).write_bytes(b"not an image")
    fakes = make_aligned_fakes(train, 2, str(seeded_autoencoder), 48, tmp_path / "fakes", seed=3)
    assert len(fakes) == 1 and len(list((tmp_path / "fakes").iterdir())) == 1


def test_a_run_trains_on_the_twins_and_never_evaluates_them(tmp_path, seeded_autoencoder):
    from artifact.training.config import TrainConfig
    from artifact.training.train import train
    from tests.support.art import build_multi_source_manifest

    data = build_multi_source_manifest(tmp_path / "multi", per_source=8)
    config = TrainConfig(
        data=[str(data)], architecture="small_cnn", width=8, depth=2, epochs=1, batch_size=16,
        preprocess={"input_size": 40, "canonical_size": 48}, aligned_fakes=5,
        autoencoder_weights=str(seeded_autoencoder),
    )  # fmt: skip
    run = train(config, tmp_path / "run")

    def sources(split: str) -> list[tuple[str, str]]:
        return [(r["source"], r["label"]) for r in csv.DictReader(run.split(split).open())]

    assert sources("train").count((SOURCE, AI)) == 5
    assert not any(source == SOURCE for split in ("val", "test") for source, _ in sources(split))
    described = json.loads(run.config.read_text())
    assert described["aligned_fakes"]["made"] == 5
    assert set(described["aligned_fakes"]["autoencoder"]) == {ENCODER_FILE, DECODER_FILE}
    assert described["dataset"]["train_by_collection"][SOURCE] == {AI: 5}
    assert run.keras_model.is_file()
    assert not (run.root / "cache").exists()  # the twins were the run's cache, gone when it ends


def test_holding_a_source_out_holds_out_the_twins_made_from_it(tmp_path, seeded_autoencoder):
    from artifact.data.samples import read_samples
    from artifact.training.config import TrainConfig
    from artifact.training.train import train
    from tests.support.art import build_multi_source_manifest
    from tests.support.shared import shared_weights

    weights = shared_weights("mobilenet_2_5_224_tf_no_top.h5")
    config = TrainConfig(
        data=[str(build_multi_source_manifest(tmp_path / "multi"))], architecture="mobilenet_v1_0.25",
        backbone_weights=str(weights), preprocess={"input_size": 32, "canonical_size": 32}, epochs=2,
        fine_tune_epochs=0, balance="source", batch_size=16, leave_one_source_out=True, loso_min_images=10,
        aligned_fakes=12, autoencoder_weights=str(seeded_autoencoder),
    )  # fmt: skip
    run = train(config, tmp_path / "run")
    fakes = [s for s in read_samples(run.split("train")) if s.source == SOURCE]
    made_from = Counter(s.derived_from for s in fakes)
    assert len(fakes) == 12 and len(made_from) >= 2 and set(made_from) <= {"wiki", "anime", "photos"}
    table = json.loads(run.leave_one_source_out.read_text())["sources"]
    assert set(table) == {"wiki", "anime", "photos", "sd", "flux"}  # the twins have nothing to score
    for source, entry in table.items():
        assert entry["trained_on"].get(SOURCE, 0) == len(fakes) - made_from[source], source
