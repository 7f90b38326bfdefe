"""``artifact predict`` and ``artifact scan`` through the command line."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from artifact.cli import main
from artifact.data.samples import read_samples

pytestmark = pytest.mark.slow


@pytest.fixture
def image_folder(artbench_run, tmp_path) -> Path:
    folder = tmp_path / "uploads"
    (folder / "nested").mkdir(parents=True)
    for i, sample in enumerate(read_samples(artbench_run / "splits/test.csv")[:10]):
        target = folder / ("nested" if i % 2 else "") / f"art_{i}.jpg"
        shutil.copy(sample.path, target)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really")
    (folder / "notes.txt").write_text("ignored: not an image")
    return folder


def test_predict_json_reports_each_file_and_errors(artbench_run, image_folder, capsys):
    good = sorted(image_folder.glob("art_*.jpg"))[:2]
    bad = image_folder / "broken.jpg"
    code = main(["predict", "--json", "--model", str(artbench_run), *map(str, good), str(bad)])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["path"] for r in rows] == [*map(str, good), str(bad)]
    for row in rows[:2]:
        assert row["verdict"] in ("ai", "human", "uncertain")
        assert 0 <= row["prob_ai"] <= 1 and len(row["sha256"]) == 64
    assert set(rows[2]) >= {"path", "error"} and "verdict" not in rows[2]


def test_predict_fails_only_when_every_input_fails(artbench_run, image_folder, capsys):
    bad = str(image_folder / "broken.jpg")
    assert main(["predict", "--model", str(artbench_run), bad, str(image_folder / "missing.png")]) == 1
    output = capsys.readouterr().out
    assert "error" in output


def test_predict_without_a_model_is_a_clear_error(tmp_path, image_folder, capsys):
    assert main(["predict", "--model", str(tmp_path), str(image_folder / "art_0.jpg")]) == 2
    assert "no model.tflite" in capsys.readouterr().err


def test_scan_writes_csv_reports_failures_and_resumes(artbench_run, image_folder, tmp_path, capsys):
    report = tmp_path / "report.csv"
    assert main(["scan", str(image_folder), "--out", str(report), "--model", str(artbench_run)]) == 0
    rows = list(csv.DictReader(report.open()))
    assert len(rows) == 11  # 10 images (nested too) + the broken one; notes.txt ignored
    failed = [r for r in rows if r["error"]]
    assert [Path(r["path"]).name for r in failed] == ["broken.jpg"]
    assert "scanned 11 new files" in capsys.readouterr().out
    # Resume: a new image is scanned, old ones are not; the broken one is retried.
    shutil.copy(image_folder / "art_0.jpg", image_folder / "art_new.jpg")
    assert main(["scan", str(image_folder), "--out", str(report), "--model", str(artbench_run)]) == 0
    assert "scanned 2 new files (10 already in the report)" in capsys.readouterr().out
    rows = list(csv.DictReader(report.open()))
    assert len(rows) == 12 and len({r["path"] for r in rows}) == 12


@pytest.mark.parametrize("suffix", [".json", ".html"])
def test_scan_json_and_html_reports_resume_too(artbench_run, image_folder, tmp_path, suffix, capsys):
    report = tmp_path / f"report{suffix}"
    args = [
        "scan",
        str(image_folder),
        "--out",
        str(report),
        "--model",
        str(artbench_run),
        "--workers",
        "2",
    ]
    assert main(args) == 0
    text = report.read_text()
    if suffix == ".json":
        rows = json.loads(text)
        assert len(rows) == 11 and sum(1 for r in rows if r.get("error")) == 1
    else:
        assert text.count("<figure") == 11 and text.count("data:image/jpeg;base64,") == 10
        assert "broken.jpg" in text and "<script src" not in text
    capsys.readouterr()
    assert main(args) == 0
    assert "scanned 1 new files (10 already in the report)" in capsys.readouterr().out


def test_predict_json_carries_evidence_and_strong_evidence_decides(artbench_run, tmp_path, capsys):
    from tests.test_provenance_metadata import A1111, png

    marked = tmp_path / "marked.png"
    marked.write_bytes(png(parameters=A1111))
    assert main(["predict", "--json", "--model", str(artbench_run), str(marked)]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["verdict"] == "ai" and row["evidence"][0]["strength"] == "strong"
    assert "AI-generated" in row["verdict_reason"]
