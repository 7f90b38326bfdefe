"""``artifact train --resume RUN``: a stopped run continues from what it had finished."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from artifact.cli import main
from tests.support.art import TINY

pytestmark = pytest.mark.slow


def _epochs(run) -> list[int]:
    with (run / "history.csv").open() as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def test_a_killed_cnn_run_resumes_at_its_next_epoch(artbench_root, tmp_path, capsys):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "artifact", "train", "--data", str(artbench_root), "--out", str(out),
               "--epochs", "40", "--patience", "100", *TINY]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "history.csv").is_file() and len(_epochs(out)) >= 3:
            break
        time.sleep(0.05)
    assert process.poll() is None, "training ended before it could be stopped"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = _epochs(out)
    assert (out / "backup" / "cnn").is_dir() and not (out / "model.keras").exists()

    assert main(["train", "--resume", str(out)]) == 0
    # Every epoch once: the resumed run went on from the backup, it did not start again.
    assert _epochs(out) == list(range(40))
    assert _epochs(out)[: len(done_before)] == done_before
    assert (out / "model.tflite").is_file() and not (out / "backup").exists()
    card = json.loads((out / "model.json").read_text())
    assert card["training"]["epochs"] == 40


def test_resume_refuses_what_it_cannot_continue(artbench_run, tmp_path, capsys):
    assert main(["train", "--resume", str(artbench_run)]) == 2
    assert "finished run" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert main(["train", "--resume", str(artbench_run), "--epochs", "3"]) == 2
    assert "give it alone" in capsys.readouterr().err
    assert main(["train", "--epochs", "3"]) == 2
    assert "needs --data and --out" in capsys.readouterr().err


def test_a_backbone_run_stopped_in_leave_one_source_out_keeps_its_features_head_and_folds(
    tmp_path, monkeypatch
):
    """Stopped (Ctrl-C) in its second fold: the resumed run reads the cached features and the
    trained head instead of computing them again, and runs only the folds not yet measured."""
    from artifact.training import backbone_training, transfer
    from tests.support.art import build_multi_source_manifest
    from tests.support.shared import shared_weights

    weights = shared_weights("mobilenet_2_5_224_tf_no_top.h5")
    data = build_multi_source_manifest(tmp_path / "multi")
    out = tmp_path / "run"
    args = ["train", "--data", str(data), "--out", str(out), "--architecture", "mobilenet_v1_0.25",
            "--backbone-weights", str(weights), "--image-size", "32", "--canonical-size", "32",
            "--epochs", "2", "--fine-tune-epochs", "1", "--balance", "source", "--leave-one-source-out",
            "--loso-min-images", "10", "--robustness-limit", "0", "--batch-size", "16"]  # fmt: skip
    calls = {"features": [], "fit_head": 0, "folds": 0}
    real_extract, real_fit, real_rule = transfer.extract_features, backbone_training.fit_head, None

    def extract(*a, **k):
        calls["features"].append(k["description"])
        return real_extract(*a, **k)

    def fit(*a, **k):
        calls["fit_head"] += 1
        return real_fit(*a, **k)

    real_rule = backbone_training.fit_decision_rule

    def rule_then_stop(*a, **k):
        calls["folds"] += 1
        if calls["folds"] == 2 and stop:
            raise KeyboardInterrupt
        return real_rule(*a, **k)

    monkeypatch.setattr(backbone_training, "extract_features", extract)
    monkeypatch.setattr(backbone_training, "fit_head", fit)
    monkeypatch.setattr(backbone_training, "fit_decision_rule", rule_then_stop)
    stop = True
    with pytest.raises(KeyboardInterrupt):
        main(args)
    progress = json.loads((out / "progress.json").read_text())
    assert progress["done"] == ["features", "head"] and len(progress["folds"]) == 1
    first_fold = dict(progress["folds"])
    assert calls["fit_head"] == 3  # the model's head, then two folds (the second stopped)

    stop, calls["features"], calls["fit_head"], calls["folds"] = False, [], 0, 0
    assert main(["train", "--resume", str(out)]) == 0
    # Only the test features (never cached) were computed again; no head trained but the folds'.
    assert calls["features"] == ["backbone features, test"]
    assert calls["fit_head"] == 4  # five sources, one fold already measured
    table = json.loads((out / "leave_one_source_out.json").read_text())["sources"]
    assert len(table) == 5
    (source, entry), = first_fold.items()
    assert table[source] == entry
    # The fold measured before the stop kept its scores file, and each new fold wrote one.
    assert sorted(p.stem for p in (out / "leave_one_source_out").iterdir()) == sorted(table)
    assert not (out / "progress.json").exists() and not (out / "cache").exists()
