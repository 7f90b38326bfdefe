"""The bundled default model: found without configuration, complete, honest about itself."""

from __future__ import annotations

import hashlib
import json

import pytest

from artifact.cli import main
from artifact.inference.engine import Predictor, bundled_model_dir
from tests.api_helpers import image_bytes


def test_bundled_model_is_found_and_matches_its_card(monkeypatch):
    monkeypatch.delenv("ARTIFACT_MODEL_DIR", raising=False)
    predictor = Predictor()
    assert predictor.model_dir == bundled_model_dir()
    tflite = (predictor.model_dir / "model.tflite").read_bytes()
    assert hashlib.sha256(tflite).hexdigest() == predictor.card.sha256
    assert predictor.card.labels == ["human", "ai"]


def test_bundled_card_and_report_describe_training_data_metrics_and_limits():
    folder = bundled_model_dir()
    card = json.loads((folder / "model.json").read_text())
    assert card["training"]["dataset"]["layout"] == "manifest"
    assert card["training"]["architecture"] == "mobilenet_v2_1.0"
    assert {s["name"] for s in card["training"]["sources"]} >= {"art-dev", "jalpv1+wiki-art-selected-resized"}
    assert card["metrics"]["by_dataset"]["art-dev"]["test_images"] >= 190
    assert 0 <= card["metrics"]["roc_auc"] <= 1
    assert card["metrics"]["human_paintings"]["images"] == 2000
    assert card["metrics"]["leave_one_source_out"]["sources"]
    assert card["metrics"]["calibration"]["max_false_ai"] == 0.02
    assert card["export"]["verification"]["label_agreement"] >= 0.995
    assert card["limitations"]
    for name in (
        "confusion_matrix.png",
        "classification_report.txt",
        "metrics.json",
        "on-human-paintings/metrics.json",
    ):
        assert (folder / "report" / name).is_file(), name


def test_predict_uses_the_bundled_model_by_default(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ARTIFACT_MODEL_DIR", raising=False)
    path = tmp_path / "art.jpg"
    path.write_bytes(image_bytes(size=300))
    assert main(["predict", "--json", str(path)]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["verdict"] in ("ai", "human", "uncertain")


@pytest.mark.shared_data
def test_bundled_model_accuracy_is_reproduced_on_its_held_out_test_split():
    """Re-measure with the LiteRT engine on the exact images the model never saw."""
    import csv

    import numpy as np

    from tests.conftest import shared_dataset

    root = shared_dataset("art-dev")
    folder = bundled_model_dir()
    with open(folder / "report" / "test_split.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row["dataset"] == "art-dev"]
    predictor = Predictor(folder)
    is_ai = np.array([row["label"] == "ai" for row in rows])
    prob_ai = np.array([predictor.predict_file(root / row["path"]).prob_ai for row in rows])
    accuracy = float(np.mean((prob_ai >= predictor.card.threshold) == is_ai))
    expected = json.loads((folder / "model.json").read_text())["metrics"]["by_dataset"]["art-dev"]
    assert len(rows) == expected["test_images"]
    assert accuracy == pytest.approx(expected["accuracy_at_threshold"], abs=0.006)
