"""The bundled default model: found without configuration, complete, honest about itself."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from artifact.cli import main
from artifact.inference.engine import Predictor, bundled_model_dir
from tests.support.api import card_cut_points, expected_verdict, image_bytes


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
    assert card["card_format"] == 2
    assert card["training"]["dataset"]["layout"] == "manifest"
    assert card["training"]["architecture"] == "mobilenet_v2_1.0"
    assert {s["name"] for s in card["training"]["sources"]} >= {"art-dev", "jalpv1+wiki-art-selected-resized"}
    assert all(s["commit"] for s in card["training"]["sources"])
    assert "/" not in card["metrics"]["evaluated_on"]  # no folders of the machine that trained it
    assert "/work/" not in json.dumps(card) and "/root/" not in json.dumps(card)
    assert card["metrics"]["human_paintings"]["images"] == 2000
    assert card["metrics"]["leave_one_source_out"]["sources"]
    calibration = card["metrics"]["calibration"]
    # The calibration is chosen by cross-validated log-loss, and lowers it on validation.
    assert calibration["log_loss_after"] < calibration["log_loss_before"]
    assert calibration["method"] in calibration["cross_validated_log_loss"]
    assert card["limitations"]
    for name in (
        "confusion_matrix.png",
        "classification_report.txt",
        "metrics.json",
    ):
        assert (folder / "report" / name).is_file(), name


def test_bundled_rule_answers_every_verdict_at_its_cut_points():
    rule = Predictor(bundled_model_dir()).card.rule
    assert 0 < rule.human_cut < rule.ai_cut < 1
    # Scores whose calibrated probability lands just past each cut.
    grid = np.linspace(0, 1, 200_001)
    prob = rule.prob_ai(grid)
    just_above_ai = grid[np.argmax(prob >= rule.ai_cut)]
    just_below_human = grid[np.nonzero(prob <= rule.human_cut)[0][-1]]
    assert rule.decide(just_above_ai)[1] == "ai"
    assert rule.decide(just_below_human)[1] == "human"
    assert rule.decide(float(grid[np.nonzero(prob < rule.ai_cut)[0][-1]]))[1] == "uncertain"
    assert rule.decide(1.0)[1] == "ai" and rule.decide(0.0)[1] == "human"


def test_predict_uses_the_bundled_model_by_default(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ARTIFACT_MODEL_DIR", raising=False)
    path = tmp_path / "art.jpg"
    path.write_bytes(image_bytes(size=300))
    assert main(["predict", "--json", str(path)]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["verdict"] == expected_verdict(row["prob_ai"], card_cut_points(bundled_model_dir()))


def _predict_json(paths: list[Path], capsys) -> list[dict]:
    rows = []
    for start in range(0, len(paths), 100):
        assert main(["predict", "--json", *map(str, paths[start : start + 100])]) == 0
        rows += json.loads(capsys.readouterr().out)
    return rows


@pytest.mark.shared_data
def test_bundled_model_serves_ai_on_art_dev_and_human_on_real_paintings(capsys, monkeypatch):
    """Through ``artifact predict --json``, on the art-dev images it never trained on and the
    2,000 real paintings it never saw. Figures in the README come from the same path."""
    from tests.support.shared import shared_dataset

    monkeypatch.delenv("ARTIFACT_MODEL_DIR", raising=False)
    root = shared_dataset("art-dev")
    paintings = shared_dataset("human-paintings")
    with open(bundled_model_dir() / "report" / "test_split.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row["dataset"] == "art-dev"]
    ai_paths = [root / row["path"] for row in rows if row["label"] == "ai"]
    served = _predict_json(ai_paths, capsys)
    caught = np.mean([row["verdict"] == "ai" for row in served])
    with open(paintings / "labels.csv") as handle:
        painting_paths = [paintings / row["path"] for row in csv.DictReader(handle)]
    real = _predict_json(painting_paths, capsys)
    called_ai = np.mean([row["verdict"] == "ai" for row in real])
    print(f"art-dev test AI called ai {caught:.3f}; human-paintings called ai {called_ai:.4f}")
    assert len(ai_paths) >= 90 and len(real) == 2000
    # The bundled model's trade-off (README, docs/research.md): an `ai` verdict only where at most
    # 2% of the worst validation human source would get it. Measured: 31.7% of art-dev's AI test
    # images served `ai` (the previous model 58.4%), 0.40% of the paintings (previous 1.3%).
    assert caught >= 0.3
    assert called_ai <= 0.01
