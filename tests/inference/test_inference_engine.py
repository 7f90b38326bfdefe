"""The LiteRT engine against the Keras model it came from, and its verdict rules."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from artifact.data.samples import read_samples
from artifact.inference.engine import ModelNotFoundError, Predictor
from artifact.inference.preprocess import canonicalize, prediction_crops
from tests.support.api import card_cut_points, expected_verdict

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def predictor(artbench_run) -> Predictor:
    return Predictor(artbench_run)


@pytest.fixture(scope="module")
def test_paths(artbench_run) -> list[str]:
    return [s.path for s in read_samples(artbench_run / "splits/test.csv")]


def test_engine_matches_keras_within_1e4(artbench_run, predictor, test_paths):
    import keras

    from artifact.data.canonical import canonicalize_files
    from artifact.training.keras_predict import predict_probabilities

    model = keras.saving.load_model(artbench_run / "model.keras", compile=False)
    canonical = canonicalize_files(test_paths, predictor.card.preprocess)
    keras_probs = predict_probabilities(model, canonical.pixels, predictor.card.preprocess)
    engine_results = [predictor.predict_file(p) for p in test_paths]
    engine_probs = np.array([[r.probabilities[c] for c in predictor.card.labels] for r in engine_results])
    np.testing.assert_allclose(engine_probs, keras_probs, atol=1e-4)
    assert (engine_probs.argmax(1) == keras_probs.argmax(1)).all()


def test_keras_scoring_sends_at_most_batch_size_crops_to_the_model(artbench_run, monkeypatch):
    """Five crops per image: the model sees batches of <= batch_size crops, and the means are
    the same as scoring every crop of every image in one call."""
    import keras

    from artifact.inference.preprocess import PreprocessConfig
    from artifact.training import keras_predict

    model = keras.saving.load_model(artbench_run / "model.keras", compile=False)
    side = model.input_shape[1]
    config = PreprocessConfig(canonical_size=side + 8, input_size=side, crop_mode="five", jpeg_quality=0)
    pixels = np.random.default_rng(0).integers(0, 256, (11, side + 8, side + 8, 3), dtype=np.uint8)
    seen = []
    compiled = keras_predict.compiled_inference

    def recording(m):
        infer = compiled(m)
        return lambda x: (seen.append(len(x)), infer(x))[1]

    monkeypatch.setattr(keras_predict, "compiled_inference", recording)
    chunked = keras_predict.predict_probabilities(model, pixels, config, batch_size=12)
    assert seen == [10] * 5 + [5]  # two images (10 crops) a call, then the last image
    every_crop = np.concatenate([prediction_crops(image, config) for image in pixels])
    whole = np.asarray(model(every_crop, training=False)).reshape(11, 5, -1).mean(axis=1)
    np.testing.assert_allclose(chunked, whole, atol=1e-5)


def test_crop_mode_of_the_card_is_honoured(artbench_run, tmp_path, test_paths):
    original = Predictor(artbench_run)
    other_mode = "center" if original.card.preprocess.crop_mode != "center" else "five"
    copy = tmp_path / "other"
    shutil.copytree(artbench_run, copy)
    card = json.loads((copy / "model.json").read_text())
    card["preprocess"]["crop_mode"] = other_mode
    (copy / "model.json").write_text(json.dumps(card))
    changed = Predictor(copy)
    image = Image.open(test_paths[0]).convert("RGB")
    for predictor in (original, changed):
        config = predictor.card.preprocess
        crops = prediction_crops(canonicalize(image, config), config)
        assert len(crops) == (1 if config.crop_mode == "center" else 5)
        np.testing.assert_allclose(
            predictor.probabilities([image])[0], predictor.model.predict(crops).mean(0), atol=1e-6
        )
    assert not np.allclose(changed.probabilities([image]), original.probabilities([image]), atol=1e-7)


def test_result_fields_and_the_decision_rule(predictor, test_paths):
    card = predictor.card
    assert card.card_format == 2 and card.decision is not None
    rule = card.rule
    for path in test_paths[:6]:
        result = predictor.predict_file(path).to_dict()
        assert set(result) >= {"verdict", "prob_ai", "score", "cut_points", "probabilities", "model"}
        assert result["model"] == {"name": card.name, "sha256": card.sha256}
        assert len(result["sha256"]) == 64
        # Both are rounded to 6 decimals on their own, hence the tolerance of two roundings.
        assert result["score"] == pytest.approx(1 - result["probabilities"]["human"], abs=2e-6)
        assert result["prob_ai"] == pytest.approx(rule.calibration.apply(result["score"]), abs=2e-6)
        expected = "ai" if result["prob_ai"] >= rule.ai_cut else (
            "human" if result["prob_ai"] <= rule.human_cut else "uncertain")  # fmt: skip
        assert result["verdict"] == expected
        assert result["cut_points"] == {"human": rule.human_cut, "ai": rule.ai_cut}
    assert predictor.verdict(rule.ai_cut) == "ai"
    assert predictor.verdict(rule.human_cut) == "human"
    assert predictor.verdict(max(0.0, rule.human_cut - 1e-4)) == "human"
    if rule.ai_cut - rule.human_cut > 2e-6:
        assert predictor.verdict(rule.ai_cut - 1e-6) == "uncertain"


def test_batched_and_threaded_predictions_equal_sequential(predictor, test_paths):
    images = [Image.open(p).convert("RGB") for p in test_paths[:12]]
    sequential = np.stack([predictor.probabilities([image])[0] for image in images])
    np.testing.assert_allclose(predictor.probabilities(images), sequential, atol=1e-6)
    with ThreadPoolExecutor(6) as pool:
        threaded = list(pool.map(lambda im: predictor.probabilities([im])[0], images * 4))
    np.testing.assert_allclose(np.stack(threaded), np.concatenate([sequential] * 4), atol=1e-6)


def test_card_that_does_not_match_the_model_is_refused(artbench_run, tmp_path):
    copy = tmp_path / "tampered"
    shutil.copytree(artbench_run, copy)
    card = json.loads((copy / "model.json").read_text())
    card["sha256"] = "0" * 64
    (copy / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelNotFoundError, match="does not match its card"):
        Predictor(copy)
    with pytest.raises(ModelNotFoundError):
        Predictor(tmp_path / "nothing-here")


def test_serving_path_never_imports_tensorflow(artbench_run, test_paths):
    code = (
        "import sys, json\n"
        "from artifact.cli import main\n"
        f"code = main(['predict', '--json', '--model', {str(artbench_run)!r}, {test_paths[0]!r}])\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules]\n"
        "print('HEAVY', heavy, code)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY [] 0" in out.stdout, out.stdout + out.stderr
    row = json.loads(out.stdout.split("HEAVY")[0])[0]
    assert row["verdict"] == expected_verdict(row["prob_ai"], card_cut_points(artbench_run))
