"""Service settings: one pydantic-settings class, read from ``ARTIFACT_*`` variables and ``.env``."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "artifact"


class Settings(BaseSettings):
    """Everything the service keeps lives under ``data_dir`` unless a URL says otherwise."""

    model_config = SettingsConfigDict(env_prefix="ARTIFACT_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = Field(None, description="default: SQLite file in data_dir")
    storage_url: str | None = Field(
        None, description="s3://bucket/prefix: keep images in S3-compatible storage; default: data_dir/images"
    )
    storage_endpoint: str | None = Field(
        None, description="the object store's URL when it is not AWS (MinIO, Ceph, R2, an emulator)"
    )
    orphan_min_age_seconds: float = Field(
        60.0, ge=0, description="the start-up sweep leaves younger unreferenced images (uploads in flight)"
    )
    model_dir: Path | None = Field(None, description="default: the bundled model")
    secret_key: str | None = Field(None, description="JWT signing key; default: kept in data_dir")
    token_ttl_minutes: int = 12 * 60
    max_upload_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 50_000_000
    database_busy_timeout_seconds: float = Field(
        30.0, gt=0, description="SQLite: how long a write waits for the lock before answering 503"
    )
    memory_budget_mb: int = Field(
        2048, ge=64, description="decoding + analysis memory of concurrent uploads (~16 bytes per pixel each)"
    )
    batch_limit: int = 16
    job_max_files: int = Field(
        500, ge=1, description="files per batch job (POST /v1/jobs), a zip's entries included"
    )
    job_max_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1024,
        description="one batch job's request body, and a zip's total uncompressed size",
    )
    storage_quota_mb: int = Field(
        10240, ge=0, description="stored image bytes per user (uploads, artworks, jobs); 0: no quota"
    )
    job_turn_files: int = Field(
        8, ge=1, description="files a worker analyses of one job before the other queued jobs get a turn"
    )
    worker_concurrency: int = Field(1, ge=1, description="jobs one `artifact worker` runs at once")
    worker_heartbeat_seconds: float = Field(5.0, gt=0, description="how often a worker says it is alive")
    worker_stalled_seconds: float = Field(
        30.0, gt=0, description="a worker silent this long is dead: its jobs are run again"
    )
    rate_limit_per_minute: int = 120
    heatmap_cache_mb: int = Field(256, ge=1, description="heatmaps kept on disk, oldest used out first")
    login_attempts_per_minute: int = Field(
        10, ge=0, description="log-in attempts per username, and 3x this per client address (0: off)"
    )
    max_concurrent_password_checks: int = Field(
        4, ge=1, description="argon2 verifications at once (each takes ~64 MB and ~0.1 s)"
    )
    public_registration: bool = True
    # The ASGI server's own limits (artifact serve; the head and body deadlines and the
    # per-address cap are ours, artifact.api.server_protocol, since uvicorn has none).
    max_header_bytes: int = Field(64 * 1024, ge=4096, description="request line + headers, per request")
    max_connections: int = Field(
        256, ge=2, description="open connections per worker, the asking one included; past it: 503"
    )
    keep_alive_seconds: int = Field(5, ge=1, description="idle keep-alive connections are closed after this")
    head_timeout_seconds: float = Field(
        10.0, gt=0, description="a request head must arrive whole within this"
    )
    body_min_bytes_per_second: int = Field(
        1024, ge=1, description="a request body slower than this (5 s average) is cut off"
    )
    max_connections_per_address: int = Field(64, ge=1, description="open connections per client address")
    graceful_shutdown_seconds: int = Field(
        30, ge=1, description="in-flight requests get this long after SIGTERM"
    )
    c2pa_trust_anchors: Path | None = Field(
        None, description="PEM file of CA certificates trusted for C2PA camera-capture claims"
    )

    def decode_limits(self):
        """The upload limits every decode of a user's file is held to (API, worker, jobs)."""
        from artifact.inference.decode import DecodeLimits

        return DecodeLimits(max_bytes=self.max_upload_bytes, max_pixels=self.max_pixels)

    def c2pa_trust_anchors_pem(self) -> str | None:
        return _read_pem(self.c2pa_trust_anchors) if self.c2pa_trust_anchors else None

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'artifact.db'}"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    def prepare(self) -> None:
        """Create the data directory on first start; the SQLite file readable by its owner only
        (SQLite gives its -wal and -shm files the database file's permissions)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.images_dir.mkdir(parents=True, exist_ok=True)
        if self.database_url is None:
            database = self.data_dir / "artifact.db"
            database.touch(mode=0o600, exist_ok=True)
            database.chmod(0o600)

    def replica_problem(self, workers: int = 1) -> str | None:
        """Why this node cannot run beside others as configured, or None.

        Several workers or replicas must sign and check tokens with one key: a key file each
        node generates for itself would make tokens from one replica fail on the next.
        """
        shared = workers > 1 or self.storage_url is not None
        if shared and not self.secret_key:
            why = f"--workers {workers}" if workers > 1 else "a shared object store (ARTIFACT_STORAGE_URL)"
            return (
                f"{why} means several processes or replicas: set ARTIFACT_SECRET_KEY to one secret "
                "for all of them (a per-node key file would make each replica refuse the others' tokens)"
            )
        return None

    def signing_key(self) -> str:
        """The configured secret, else one generated once and kept in the data directory."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if not path.exists():
            self.prepare()
            # A private temporary file (mkstemp: unique name, mode 0600 from the start), then
            # a hard link, which never replaces an existing key: of racing processes exactly
            # one key wins, and nobody ever reads a half-written one.
            handle, staging = tempfile.mkstemp(dir=self.data_dir, prefix=".secret-")
            try:
                with os.fdopen(handle, "w") as out:
                    out.write(secrets.token_urlsafe(48))
                with contextlib.suppress(FileExistsError):  # another process won the race
                    os.link(staging, path)
            finally:
                os.unlink(staging)
        return path.read_text().strip()


@lru_cache(maxsize=8)
def _read_pem(path: Path) -> str:
    # Read once per process: it is asked for on every analysis.
    return path.read_text()


@lru_cache
def get_settings() -> Settings:
    return Settings()
