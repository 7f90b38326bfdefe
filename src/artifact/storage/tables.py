"""The database tables (SQLAlchemy 2, typed mappings). Migrations live in ``migrations/``."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return value.astimezone(UTC) if value is not None and value.tzinfo else value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def new_session_key() -> str:
    return secrets.token_urlsafe(24)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"
    __table_args__ = {"sqlite_autoincrement": True}  # never reuse a deleted row's id

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="juror")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Every token carries it; a new value (logout) revokes all the user's tokens at once.
    session_key: Mapped[str] = mapped_column(String(64), default=new_session_key, server_default="")


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = {"sqlite_autoincrement": True}  # never reuse a deleted row's id

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StoredImage(Base):
    """One file in the content-addressed store; rows point at it by sha256."""

    __tablename__ = "images"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    format: Mapped[str] = mapped_column(String(16))
    bytes: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Analysis(Base):
    __tablename__ = "analyses"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_analyses_user_idempotency_key"),
        {"sqlite_autoincrement": True},  # never reuse a deleted row's id
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    image_sha256: Mapped[str] = mapped_column(ForeignKey("images.sha256"), index=True)
    filename: Mapped[str] = mapped_column(String(255), default="")
    verdict: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    model_verdict: Mapped[str | None] = mapped_column(String(16), nullable=True)
    verdict_reason: Mapped[str] = mapped_column(Text, default="")
    prob_ai: Mapped[float | None] = mapped_column(Float, nullable=True)  # calibrated
    score: Mapped[float | None] = mapped_column(Float, nullable=True)  # the model's raw output
    probabilities: Mapped[dict] = mapped_column(JSON, default=dict)
    label: Mapped[str] = mapped_column(String(64))
    # The decision rule's cuts: human at or below uncertain_low, ai at or above uncertain_high
    # (= threshold); uncertain between.
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    uncertain_low: Mapped[float | None] = mapped_column(Float, nullable=True)
    uncertain_high: Mapped[float | None] = mapped_column(Float, nullable=True)
    model_name: Mapped[str] = mapped_column(String(128))
    model_sha256: Mapped[str] = mapped_column(String(64))
    evidence: Mapped[list] = mapped_column(JSON, default=list)
    processing_ms: Mapped[float] = mapped_column(Float)
    # The client's Idempotency-Key of the upload: a retry with it gets this row back.
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class Artwork(Base):
    __tablename__ = "artworks"
    __table_args__ = {"sqlite_autoincrement": True}  # never reuse a deleted row's id

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    analysis_id: Mapped[int] = mapped_column(ForeignKey("analyses.id", ondelete="CASCADE"), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    artist: Mapped[str] = mapped_column(String(300))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class JurorDecision(Base):
    """A juror's decision on a gallery artwork, beside (never changing) the machine's analysis.
    Every decision is kept, with who and when; the newest is the artwork's current one."""

    __tablename__ = "juror_decisions"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    artwork_id: Mapped[int] = mapped_column(ForeignKey("artworks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # accepted, rejected, needs_proof
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class RateLimitWindow(Base):
    """Requests per principal per minute, counted in the database so every replica shares them."""

    __tablename__ = "rate_limit_windows"

    principal: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True)  # minutes since the epoch
    hits: Mapped[int] = mapped_column(Integer, default=0)


class BatchJob(Base):
    """Work too big for one request: files stored at submission, analysed by `artifact worker`."""

    __tablename__ = "batch_jobs"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key", name="uq_batch_jobs_user_idempotency_key"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random: ids are not guessable
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued, running, done
    total: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # The client's Idempotency-Key, and a digest of the (name, image) list it submitted: a retry
    # with the same key and files gets this job back; other files under the key are refused.
    idempotency_key: Mapped[str | None] = mapped_column(String(128), nullable=True)
    request_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)


class BatchJobFile(Base):
    """One file of a job; ``analysis_id`` is set in the transaction that records its analysis,
    which is how a retried job knows what is already done (never analysed into history twice)."""

    __tablename__ = "batch_job_files"
    __table_args__ = (UniqueConstraint("job_id", "position"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("batch_jobs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    image_sha256: Mapped[str] = mapped_column(String(64), index=True)  # the stored upload
    size: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # bytes stored
    analysis_id: Mapped[int | None] = mapped_column(
        ForeignKey("analyses.id", ondelete="SET NULL"), nullable=True, unique=True
    )
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
