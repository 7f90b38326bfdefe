"""Shared fixtures: tiny datasets in the real layouts, built fresh for each test session.

The synthetic images carry a learnable texture signal (AI images have diagonal stripes,
human ones smooth gradients) and, like AI-ArtBench, a size/compression shortcut
(Stable Diffusion images larger and more compressed) that the pipeline must neutralise.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
STYLES = (
    "art_nouveau", "baroque", "expressionism", "impressionism", "post_impressionism",
    "realism", "renaissance", "romanticism", "surrealism", "ukiyo_e",
)  # fmt: skip


def make_art(kind: str, size: int, rng: np.random.Generator) -> Image.Image:
    """A synthetic 'artwork': smooth colour field, plus stripes for AI images."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(40, 200, 3)
    slope = rng.uniform(-60, 60, (2, 3))
    image = base + x[..., None] * slope[0] + y[..., None] * slope[1]
    image += rng.normal(0, 4, image.shape)
    if kind != "human":
        period = size / rng.uniform(5, 7)
        phase = rng.uniform(0, 2 * np.pi)
        stripes = 28 * np.sin(2 * np.pi * (x + y) * size / period + phase)
        image += stripes[..., None]
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def save_art(path: Path, kind: str, size: int, quality: int, rng: np.random.Generator) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    make_art(kind, size, rng).save(path, format="JPEG", quality=quality)


def build_artbench(root: Path, per_folder: dict[str, int], seed: int = 0) -> Path:
    """AI-ArtBench's exact layout: train/ and test/, 30 folders each, under one extra level."""
    rng = np.random.default_rng(seed)
    base = root / "Real_AI_SD_LD_Dataset"
    for split, count in per_folder.items():
        for style in STYLES:
            ai_style = style.replace("ukiyo_e", "ukiyo-e")
            folders = {
                style: ("human", 64, 95),
                f"AI_LD_{ai_style}": ("ld", 64, 95),
                f"AI_SD_{ai_style}": ("sd", 96, 75),
            }
            for folder, (kind, size, quality) in folders.items():
                for i in range(count):
                    save_art(base / split / folder / f"{i}.jpg", kind, size, quality, rng)
    return root


def build_manifest(root: Path, per_generator: int = 12, seed: int = 1) -> Path:
    """A ``labels.csv`` dataset as in ../shared/data (human vs two generators)."""
    rng = np.random.default_rng(seed)
    rows = []
    for generator in ("human", "dalle", "midjourney"):
        for i in range(per_generator):
            label = "human" if generator == "human" else "ai"
            rel = f"{label}/{generator}/img_{i:03d}.jpg"
            save_art(root / rel, generator, 64, 90, rng)
            rows.append(
                {
                    "path": rel,
                    "label": label,
                    "generator": generator,
                    "style": STYLES[i % 10],
                    "category": "x",
                }
            )
    with (root / "labels.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return root


def build_folders(root: Path, per_class: int = 10, seed: int = 2) -> Path:
    """Folder-per-class: human/ flat, ai/ with one sub-folder per generator."""
    rng = np.random.default_rng(seed)
    for i in range(per_class):
        save_art(root / "human" / f"h{i}.jpg", "human", 64, 90, rng)
        save_art(root / "ai" / ("gen_a" if i % 2 else "gen_b") / f"a{i}.png", "ai", 64, 90, rng)
    return root


@pytest.fixture(scope="session")
def artbench_root(tmp_path_factory) -> Path:
    return build_artbench(tmp_path_factory.mktemp("artbench"), {"train": 8, "test": 2})


@pytest.fixture
def manifest_root(tmp_path) -> Path:
    return build_manifest(tmp_path / "manifest")


@pytest.fixture
def folders_root(tmp_path) -> Path:
    return build_folders(tmp_path / "folders")


def shared_weights(name: str) -> Path:
    """A pretrained weights file of ../shared/weights, or skip where it is absent."""
    path = SHARED_DATA.parent / "weights" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: the shared pretrained weights are not on this machine")
    return path


def shared_dataset(name: str) -> Path:
    path = SHARED_DATA / name
    if not (path / "labels.csv").is_file():
        pytest.skip(f"{path} is absent: the shared development data is not on this machine")
    return path


# A tiny model: trains in seconds on the fixtures, still a real CNN and a real export.
TINY = ["--architecture", "small_cnn", "--image-size", "40", "--canonical-size", "48", "--width", "8", "--depth", "2",
        "--batch-size", "16", "--robustness-limit", "30"]  # fmt: skip


@pytest.fixture(scope="session")
def artbench_run(artbench_root, tmp_path_factory) -> Path:
    """A complete run directory (train -> evaluate -> export) on the AI-ArtBench fixture."""
    from artifact.cli import main

    out = tmp_path_factory.mktemp("runs") / "artbench"
    args = ["train", "--data", str(artbench_root), "--out", str(out), "--epochs", "8", *TINY]
    assert main(args) == 0
    return out


# Set (as .ci/run does) to a PostgreSQL server URL to run every service test on PostgreSQL too,
# each test in a database of its own, e.g. postgresql+psycopg://artifact:artifact@127.0.0.1/postgres
POSTGRES_ADMIN_URL = os.environ.get("ARTIFACT_TEST_POSTGRES")
DATABASES = ["sqlite", "postgresql"] if POSTGRES_ADMIN_URL else ["sqlite"]


@pytest.fixture(params=DATABASES)
def service_settings(request, tmp_path, artbench_run):
    """Settings for a service on a fresh data directory (and database) with the tiny real model."""
    from artifact.config import Settings

    database_url = None
    if request.param == "postgresql":
        database_url = _fresh_postgres_database(request)
    return Settings(
        data_dir=tmp_path / "service",
        database_url=database_url,
        model_dir=artbench_run,
        secret_key="test-secret-key-of-sufficient-length-123",
        rate_limit_per_minute=1000,
        login_attempts_per_minute=1000,
    )


def _fresh_postgres_database(request) -> str:
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"artifact_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    request.addfinalizer(drop)
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def client(service_settings):
    from fastapi.testclient import TestClient

    from artifact.api.app import create_app

    with TestClient(create_app(service_settings)) as test_client:
        yield test_client


@pytest.fixture
def postgres_url(request) -> str:
    """A fresh PostgreSQL database (for what only runs on PostgreSQL: job queue, replicas)."""
    if not POSTGRES_ADMIN_URL:
        pytest.skip("needs PostgreSQL: set ARTIFACT_TEST_POSTGRES (.ci/run does)")
    return _fresh_postgres_database(request)


# The S3 emulator: moto's server mode in a process of its own, speaking the S3 HTTP API.
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "artifact-test",
    "AWS_SECRET_ACCESS_KEY": "artifact-test-secret",
    "AWS_REGION": "us-east-1",
}
# Set before anything starts: worker and server processes the tests launch inherit them.
for _name, _value in S3_CREDENTIALS.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory) -> str:
    """``http://127.0.0.1:PORT`` of a moto S3 emulator started for this test session."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    pytest.importorskip("moto", reason="the S3 emulator (moto[server]) is in the dev extras")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"the S3 emulator did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)
    yield endpoint
    process.terminate()
    process.wait(10)


@pytest.fixture
def s3_bucket(s3_endpoint) -> str:
    """A fresh, empty bucket in the emulator; returns its name."""
    import uuid

    import boto3

    name = f"artifact-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, **_boto_credentials())
    client.create_bucket(Bucket=name)
    return name


def _boto_credentials() -> dict:
    return {
        "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
        "region_name": os.environ["AWS_REGION"],
    }


def s3_keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    """Every key in the bucket, listed with boto3 (independently of the code under test)."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


# Skips that mean the test infrastructure is missing, not that a feature does not apply here.
INFRASTRUCTURE_SKIPS = (
    "chromium is not installed", "playwright is not installed", "needs PostgreSQL",
    "the S3 emulator", "invisible-watermark is not installed", "extra is not installed",
    "c2pa-python is not installed",
)  # fmt: skip


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """With ARTIFACT_CI_STRICT=1 (.ci/run) an infrastructure skip fails the test."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("ARTIFACT_CI_STRICT") != "1" or not report.skipped:
        return
    reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if any(word in reason for word in INFRASTRUCTURE_SKIPS):
        report.outcome = "failed"
        report.longrepr = f"CI strict: infrastructure missing, not skipped: {reason}"
