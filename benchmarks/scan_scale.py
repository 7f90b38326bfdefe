"""Scan throughput: the local process pool against Dask with 1 and 2 workers, on local disk and
on S3 (the moto emulator, started here), on the same images, side by side.

Usage: python benchmarks/scan_scale.py [--data ../shared/data/art-dev] [--count 500]
       [--model DIR] [--repeats 2] [--project 10000000]

Copies --count images (art-dev's, else synthetic ones) into a temporary folder and an S3
bucket, then times each mode end to end (listing, analysis, writing the output; cluster
start-up is timed apart). Prints images/s (median of --repeats), the ratio to the local pool,
and a projection for --project images from the measured per-worker rate.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def gather_images(data: Path, count: int, folder: Path) -> int:
    from artifact.data.layouts import IMAGE_SUFFIXES

    paths = sorted(p for p in data.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if data.exists() else []
    if not paths:
        import numpy as np
        from PIL import Image

        rng = np.random.default_rng(0)
        for i in range(count):
            pixels = rng.integers(0, 255, (256, 256, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / f"synthetic_{i:05d}.jpg", quality=90)
        return count
    for i in range(count):
        source = paths[i % len(paths)]
        shutil.copy(source, folder / f"{i:05d}_{source.name}")
    return count


def start_emulator() -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            return process, endpoint
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the S3 emulator did not start")


def upload_folder(folder: Path, endpoint: str, bucket: str) -> None:
    import boto3
    import obstore

    from artifact.storage.object_store import open_bucket

    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    store, _ = open_bucket(f"s3://{bucket}", endpoint)
    for path in sorted(folder.iterdir()):
        obstore.put(store, f"in/{path.name}", path.read_bytes())


def time_local(folder: Path, model: str | None, workers: int, scratch: Path) -> float:
    from artifact.scanning.local import scan_folder

    report = scratch / f"local-{time.perf_counter_ns()}.csv"
    started = time.perf_counter()
    summary = scan_folder(folder, report, model, workers=workers, progress=False)
    seconds = time.perf_counter() - started
    assert summary.failed == 0 or summary.scanned > 0
    return summary.scanned / seconds


def time_dask(client, source: str, output: str, model: str | None, endpoint: str | None, size: int) -> float:
    from artifact.scanning.distributed import scan_distributed

    summary = scan_distributed(
        source, output, client=client, model_dir=model, endpoint=endpoint, partition_size=size, progress=False
    )
    assert summary.failed_partitions == 0
    return summary.scanned / summary.seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/art-dev"
    )
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--model", help="model directory (default: the bundled model)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--partition-size", type=int, default=32)
    parser.add_argument("--project", type=int, default=10_000_000, help="images in the projection")
    args = parser.parse_args()

    from artifact.inference.engine import Predictor
    from artifact.scanning import distributed as distributed_scan

    model = str(Predictor(args.model).model_dir)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    scratch = Path(tempfile.mkdtemp(prefix="scan-scale-"))
    folder = scratch / "images"
    folder.mkdir()
    count = gather_images(args.data, args.count, folder)
    emulator, endpoint = start_emulator()
    try:
        upload_folder(folder, endpoint, "bench")
        rows: list[tuple[str, str, float]] = []
        for workers in (1, 2):
            rates = [time_local(folder, model, workers, scratch) for _ in range(args.repeats)]
            rows.append((f"local pool, {workers} process(es)", "disk", statistics.median(rates)))
        per_worker = {}
        for workers in (1, 2):
            started = time.perf_counter()
            with distributed_scan.dask_client(f"local:{workers}") as client:
                startup = time.perf_counter() - started
                for where, source in (("disk", str(folder)), ("S3 emulator", "s3://bench/in")):
                    rates = []
                    for repeat in range(args.repeats):
                        target = (
                            f"s3://bench/out-{workers}-{repeat}"
                            if where != "disk"
                            else str(scratch / f"out-{workers}-{where}-{repeat}")
                        )
                        rates.append(time_dask(client, source, target, model, endpoint, args.partition_size))
                    rows.append((f"Dask LocalCluster, {workers} worker(s)", where, statistics.median(rates)))
                    per_worker[(workers, where)] = statistics.median(rates) / workers
            print(f"Dask LocalCluster of {workers}: start-up {startup:.1f} s (not counted above)")
    finally:
        emulator.terminate()
        shutil.rmtree(scratch, ignore_errors=True)

    base = rows[0][2]
    print(
        f"\n{count} images, partitions of {args.partition_size}, median of {args.repeats} runs, {os.cpu_count()} cores"
    )
    print(f"{'mode':<34} {'input':<12} {'images/s':>9} {'vs local 1':>11}")
    for mode, where, rate in rows:
        print(f"{mode:<34} {where:<12} {rate:>9.1f} {rate / base:>10.2f}x")
    rate = per_worker[(1, "S3 emulator")]
    print(
        f"\nProjection for {args.project:,} images at {rate:.1f} images/s per single-core worker (S3, measured):"
    )
    for workers in (1, 16, 64, 256):
        hours = args.project / (rate * workers) / 3600
        print(f"  {workers:>4} workers: {hours:8.1f} h")


if __name__ == "__main__":
    main()
