"""``artifact scan`` on Dask: a real LocalCluster, local folders and the S3 emulator, Parquet output."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.support.art import save_art

distributed = pytest.importorskip("distributed", reason="the cluster extra is not installed")
from artifact.cli import main  # noqa: E402
from artifact.scanning import distributed as distributed_scan  # noqa: E402

pytestmark = pytest.mark.slow


def build_images(folder: Path, count: int, seed: int = 5) -> Path:
    rng = np.random.default_rng(seed)
    for i in range(count):
        kind = "ai" if i % 2 else "human"
        save_art(folder / ("nested" if i % 3 == 0 else "") / f"art_{i:03d}.jpg", kind, 64, 90, rng)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a JPEG")
    (folder / "notes.txt").write_text("not an image: never listed")
    return folder


@pytest.fixture(scope="module")
def cluster_client():
    """Two single-threaded worker processes, as ``--cluster local:2`` starts."""
    with distributed_scan.dask_client("local:2") as client:
        yield client


def all_rows(output: str, endpoint: str | None = None) -> list[dict]:
    rows = []
    for name in distributed_scan.list_parts(output, endpoint):
        rows += distributed_scan.read_part(output, name, endpoint).to_pylist()
    return rows


def test_a_cluster_scan_gives_the_local_scans_verdicts_and_loads_the_model_once_per_worker(
    artbench_run, tmp_path, cluster_client
):
    from artifact.scanning.local import scan_folder

    folder = build_images(tmp_path / "art", 30)
    scan_folder(folder, tmp_path / "local.csv", artbench_run, workers=2, progress=False)
    with open(tmp_path / "local.csv") as handle:
        local = {row["path"]: row for row in csv.DictReader(handle)}

    summary = distributed_scan.scan_distributed(
        str(folder), str(tmp_path / "parquet"), client=cluster_client, model_dir=str(artbench_run),
        partition_size=4, progress=False,
    )  # fmt: skip
    rows = all_rows(str(tmp_path / "parquet"))
    assert summary.scanned == len(rows) == 31 and summary.partitions == 8 and summary.failed == 1
    assert sorted(row["path"] for row in rows) == sorted(local)
    # The oracle: the engine and the evidence readers called directly, not the scan's own path.
    from artifact.inference.decode import ImageDecodeError
    from artifact.inference.engine import Predictor
    from artifact.provenance import apply_policy, collect_evidence

    predictor = Predictor(artbench_run)
    for row in rows:
        expected = local[row["path"]]
        if row["error"]:
            assert expected["error"] and row["error_code"] == expected["error_code"]
            with pytest.raises(ImageDecodeError):
                predictor.predict_file(row["path"])
            continue
        direct = predictor.predict_file(row["path"])
        data = Path(row["path"]).read_bytes()
        verdict = apply_policy(direct.verdict, collect_evidence(data)).verdict
        assert row["verdict"] == expected["verdict"] == verdict
        assert row["model_verdict"] == direct.verdict
        assert row["prob_ai"] == pytest.approx(direct.prob_ai, abs=1e-5)
        assert float(expected["prob_ai"]) == pytest.approx(direct.prob_ai, abs=1e-5)
    # Eight partitions over two worker processes, and the model loaded once in each.
    assert summary.model_loads and set(summary.model_loads.values()) == {1}
    # One row schema: the CSV report and the Parquet partitions have the same columns.
    import pyarrow.parquet as pq

    from artifact.scanning.rows import COLUMNS

    with open(tmp_path / "local.csv") as handle:
        assert tuple(next(csv.reader(handle))) == COLUMNS
    first = next((tmp_path / "parquet").glob("part-*.parquet"))
    assert tuple(pq.read_schema(first).names) == COLUMNS


def test_an_s3_prefix_is_scanned_into_parquet_on_s3(
    artbench_run, tmp_path, cluster_client, s3_endpoint, s3_bucket
):
    import boto3

    from tests.support.shared import _boto_credentials, s3_keys

    folder = build_images(tmp_path / "art", 12, seed=6)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **_boto_credentials())
    for path in folder.rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), s3_bucket, f"catalogue/{path.relative_to(folder)}")

    source, output = f"s3://{s3_bucket}/catalogue", f"s3://{s3_bucket}/results/run1"
    summary = distributed_scan.scan_distributed(
        source, output, client=cluster_client, model_dir=str(artbench_run), endpoint=s3_endpoint,
        partition_size=5, progress=False,
    )  # fmt: skip
    assert summary.scanned == 13 and summary.failed == 1
    parts = [key for key in s3_keys(s3_endpoint, s3_bucket, "results/") if key.endswith(".parquet")]
    assert len(parts) == 3
    rows = all_rows(output, s3_endpoint)
    assert sorted(row["path"] for row in rows) == sorted(
        f"{source}/{path.relative_to(folder)}" for path in folder.rglob("*.jpg")
    )
    verdicts = {row["path"].rsplit("/", 1)[-1]: row["verdict"] for row in rows if not row["error"]}
    local = distributed_scan.scan_distributed(
        str(folder), str(tmp_path / "local"), client=cluster_client, model_dir=str(artbench_run),
        partition_size=50, progress=False,
    )  # fmt: skip
    assert local.scanned == 13
    assert verdicts == {
        Path(r["path"]).name: r["verdict"] for r in all_rows(str(tmp_path / "local")) if not r["error"]
    }

    again = distributed_scan.scan_distributed(
        source,
        output,
        client=cluster_client,
        model_dir=str(artbench_run),
        endpoint=s3_endpoint,
        progress=False,
    )
    assert again.scanned == 0 and again.skipped_existing == 13


def test_an_interrupted_scan_resumes_and_writes_every_key_exactly_once(artbench_run, tmp_path):
    folder = build_images(tmp_path / "art", 60, seed=7)
    output = tmp_path / "parquet"
    command = [sys.executable, "-m", "artifact", "scan", str(folder), "--out", str(output),
               "--cluster", "local:2", "--partition-size", "2", "--model", str(artbench_run)]  # fmt: skip
    process = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while len(list(output.glob("part-*.parquet"))) < 3:
        assert process.poll() is None and time.monotonic() < deadline, "the scan ended before it could be cut"
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the client, the scheduler and the workers
    process.wait()
    first = len(all_rows(str(output)))
    assert 0 < first < 61

    assert main([*command[3:]]) == 0
    counts = Counter(row["path"] for row in all_rows(str(output)))
    expected = {str(p) for p in folder.rglob("*.jpg")}
    assert set(counts) == expected and set(counts.values()) == {1}


def test_a_worker_that_dies_has_its_partitions_run_elsewhere(artbench_run, tmp_path):
    folder = build_images(tmp_path / "art", 40, seed=8)
    output = tmp_path / "parquet"
    with distributed_scan.dask_client("local:2") as client:
        pids = client.run(os.getpid)  # worker address -> process id
        outcome = {}

        def run() -> None:
            outcome["summary"] = distributed_scan.scan_distributed(
                str(folder), str(output), client=client, model_dir=str(artbench_run), partition_size=2,
                progress=False,
            )  # fmt: skip

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 120
        while not list(output.glob("part-*.parquet")):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(next(iter(pids.values())), signal.SIGKILL)  # mid-scan: it holds a partition or two
        thread.join(180)
        assert not thread.is_alive()
    summary = outcome["summary"]
    assert summary.failed_partitions == 0 and summary.scanned == 41
    counts = Counter(row["path"] for row in all_rows(str(output)))
    assert set(counts) == {str(p) for p in folder.rglob("*.jpg")} and set(counts.values()) == {1}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--cluster", "mars:3"], "local or local:N"),
        (["--cluster", "local:2", "--out-report"], "writes Parquet"),
        (["--cluster", "local", "--partition-size", "0"], "at least 1"),
    ],
)
def test_distributed_scan_usage_errors_are_one_clear_line(tmp_path, capsys, args, message):
    folder = build_images(tmp_path / "art", 1)
    out = str(tmp_path / ("report.csv" if "--out-report" in args else "parquet"))
    args = [a for a in args if a != "--out-report"]
    assert main(["scan", str(folder), "--out", out, *args]) != 0
    assert message in capsys.readouterr().err


def test_the_command_line_runs_on_an_existing_scheduler(artbench_run, tmp_path, cluster_client, capsys):
    folder = build_images(tmp_path / "art", 6, seed=9)
    address = cluster_client.scheduler.address  # as `dask scheduler` would print it
    args = [
        "scan",
        str(folder),
        "--out",
        str(tmp_path / "out"),
        "--scheduler",
        address,
        "--model",
        str(artbench_run),
    ]
    assert main(args) == 0
    assert "scanned 7 new files" in capsys.readouterr().out
    assert len(all_rows(str(tmp_path / "out"))) == 7
    assert main(args) == 0  # again: everything already written
    assert "scanned 0 new files (7 already written)" in capsys.readouterr().out
