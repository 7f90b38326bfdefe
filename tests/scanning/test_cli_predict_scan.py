"""``artifact predict`` and ``artifact scan`` through the command line."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from artifact.cli import main
from artifact.data.samples import read_samples
from tests.support.api import card_cut_points, expected_verdict

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
    cuts = card_cut_points(artbench_run)
    for row in rows[:2]:
        assert row["verdict"] == expected_verdict(row["prob_ai"], cuts)
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
    from tests.support.art import A1111, png

    marked = tmp_path / "marked.png"
    marked.write_bytes(png(parameters=A1111))
    assert main(["predict", "--json", "--model", str(artbench_run), str(marked)]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["verdict"] == "ai" and row["evidence"][0]["strength"] == "strong"
    assert "AI-generated" in row["verdict_reason"]


@pytest.mark.parametrize("suffix", [".csv", ".json", ".html"])
def test_scan_survives_odd_file_names_fifos_and_devices(artbench_run, image_folder, tmp_path, suffix, capsys):
    """A name that is not UTF-8 lost every row of the report; a FIFO named *.png hung the
    cluster scan and a link to /dev/zero was read without bound."""
    import os

    odd = os.fsencode(str(image_folder)) + b"/caf\xe9-\xff.jpg"
    shutil.copy(image_folder / "art_0.jpg", os.fsdecode(odd))
    os.mkfifo(image_folder / "pipe.png")
    os.symlink("/dev/zero", image_folder / "zeros.png")
    report = tmp_path / f"report{suffix}"
    args = ["scan", str(image_folder), "--out", str(report), "--model", str(artbench_run)]
    assert main(args) == 0
    assert "scanned 12 new files" in capsys.readouterr().out  # 10 + broken + the odd name
    from artifact.scanning.reports import read_report

    rows = read_report(report)
    escaped = [r for r in rows if "\\xe9" in r["path"]]
    assert len(escaped) == 1 and escaped[0]["path"].endswith("caf\\xe9-\\xff.jpg")
    assert escaped[0].get("verdict") and not escaped[0].get("error")
    assert main(args) == 0
    assert "scanned 1 new files (11 already in the report)" in capsys.readouterr().out  # broken retried


def test_csv_cells_that_start_a_formula_are_neutralised(tmp_path):
    from artifact.scanning.reports import read_report, write_report

    report = tmp_path / "r.csv"
    rows = [{"path": "=HYPERLINK(\"http://evil\")", "verdict": "human", "prob_ai": 0.1,
             "evidence": [{"strength": "weak", "points_to": "human", "summary": "@SUM(A1)"}]},
            {"path": "-2+3.png", "verdict": "ai", "prob_ai": 0.9}]  # fmt: skip
    write_report(report, rows)
    cells = list(csv.DictReader(report.open()))
    assert cells[0]["path"].startswith("'=") and cells[1]["path"] == "'-2+3.png"
    assert cells[0]["evidence"].startswith("weak")  # not a formula start: unchanged
    assert [r["path"] for r in read_report(report)] == ['=HYPERLINK("http://evil")', "-2+3.png"]


def test_version_names_the_package_and_the_bundled_model(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps the line
    assert out.startswith("artifact ") and "bundled model artifact-default" in out and "card format 2" in out


def test_serve_on_a_port_in_use_says_so_before_any_banner(tmp_path, capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code = main(["serve", "--port", str(port), "--data-dir", str(tmp_path / "d")])
    captured = capsys.readouterr()
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in " ".join(captured.err.split())
    assert "ArtiFact on http" not in captured.out and not (tmp_path / "d").exists()


def test_scan_refuses_an_unknown_report_extension(artbench_run, image_folder, tmp_path, capsys):
    out = tmp_path / "report.xlsx"
    assert main(["scan", str(image_folder), "--out", str(out), "--model", str(artbench_run)]) == 2
    assert "unknown report format '.xlsx'" in " ".join(capsys.readouterr().err.split())
    assert not out.exists()


def test_commands_are_quiet_by_default(tmp_path):
    """No `INFO alembic.runtime...` lines on every start; --verbose shows them."""
    import subprocess
    import sys

    quiet = subprocess.run([sys.executable, "-m", "artifact", "users", "list", "--data-dir", str(tmp_path / "a")],
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert "alembic" not in quiet.stdout + quiet.stderr
    loud = subprocess.run([sys.executable, "-m", "artifact", "-v", "users", "list", "--data-dir", str(tmp_path / "b")],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert "alembic" in loud.stdout + loud.stderr


def test_native_banners_stay_out_of_normal_output_but_errors_do_not(artbench_run, image_folder):
    """TensorFlow 2.21 and LiteRT write absl/oneDNN/XNNPACK notices to fd 2 whatever
    TF_CPP_MIN_LOG_LEVEL says; a user saw them on every predict and train."""
    import subprocess
    import sys

    image = str(next(p for p in image_folder.rglob("*") if p.is_file()))
    predict = [sys.executable, "-m", "artifact", "predict", image, "--model", str(artbench_run)]
    quiet = subprocess.run(predict, capture_output=True, text=True, check=True)
    assert "XNNPACK" not in quiet.stderr and "absl" not in quiet.stderr, quiet.stderr
    loud = subprocess.run([*predict[:3], "-v", *predict[3:]], capture_output=True, text=True, check=True)
    assert "XNNPACK delegate" in loud.stderr
    # A TensorFlow command: imported once, without its banners.
    evaluate = subprocess.run(
        [sys.executable, "-m", "artifact", "evaluate", "--model", str(artbench_run), "--data", "/nonexistent"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert evaluate.returncode != 0 and "oneDNN" not in evaluate.stderr and "absl" not in evaluate.stderr
    assert "/nonexistent" in evaluate.stdout + evaluate.stderr  # the real error still shows


def test_the_banner_filter_replays_everything_else():
    import os

    from artifact.native_logs import without_native_banners

    read_end, write_end = os.pipe()
    saved = os.dup(2)
    os.dup2(write_end, 2)
    try:
        with without_native_banners():
            os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nreal trouble\n")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(write_end)
    with os.fdopen(read_end) as replayed:
        assert replayed.read() == "real trouble\n"


def test_a_local_scan_killed_mid_run_resumes_without_redoing_or_losing_files(
    artbench_run, image_folder, tmp_path, capsys
):
    """kill -9 after the first rows reached the report: the rerun keeps them, scans the rest,
    and every file is in the report exactly once."""
    import os
    import signal
    import subprocess
    import sys
    import time

    folder = tmp_path / "many"
    folder.mkdir()
    sources = sorted(image_folder.glob("art_*.jpg"))
    for i in range(800):
        (folder / f"piece_{i:04d}.jpg").write_bytes(sources[i % len(sources)].read_bytes())
    report = tmp_path / "report.csv"
    command = [sys.executable, "-m", "artifact", "scan", str(folder), "--out", str(report),
               "--model", str(artbench_run), "--workers", "1"]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not report.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert process.poll() is None, "the scan finished before it could be interrupted"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    before = list(csv.DictReader(report.open()))
    assert 0 < len(before) < 800
    capsys.readouterr()
    assert main(["scan", str(folder), "--out", str(report), "--model", str(artbench_run)]) == 0
    assert f"scanned {800 - len(before)} new files ({len(before)} already in the report)" in capsys.readouterr().out
    after = list(csv.DictReader(report.open()))
    assert sorted(r["path"] for r in after) == sorted(str(p) for p in folder.glob("*.jpg"))
    kept = {r["path"]: r["prob_ai"] for r in after}
    assert all(kept[r["path"]] == r["prob_ai"] for r in before)  # rows written before stay as they were
