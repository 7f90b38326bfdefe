"""Analyse an image = decode + predict (+ provenance) + store file and row as one unit.

The API and the CLI share this path. Order matters for "nothing is lost": the upload is
decoded and analysed first (a bad file stops here with nothing written), then the file goes
into the content-addressed store, then the rows are committed in one transaction; if the
transaction fails, a file this request created and nothing references is removed again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from artifact.inference.decode import DecodeLimits, declared_image, decode_upload
from artifact.inference.engine import Prediction, Predictor
from artifact.inference.memory_budget import MemoryBudget, estimate_analysis_bytes
from artifact.provenance import apply_policy, collect_evidence
from artifact.provenance.evidence import Decision
from artifact.storage import crud
from artifact.storage.database import is_lock_timeout
from artifact.storage.image_store import ImageStore
from artifact.storage.tables import Analysis, Artwork, BatchJobFile, StoredImage

log = logging.getLogger(__name__)
DIGEST_LOCK_TIMEOUT_S = 30


@dataclass
class ArtworkFields:
    title: str
    artist: str


def analyse_image(
    data: bytes,
    *,
    filename: str,
    user_id: int,
    predictor: Predictor,
    sessions: sessionmaker[Session],
    store: ImageStore,
    limits: DecodeLimits,
    artwork: ArtworkFields | None = None,
    c2pa_trust_anchors: str | None = None,
    memory_budget: MemoryBudget | None = None,
    claim: Callable[[Session, Analysis], None] | None = None,
    idempotency_key: str | None = None,
    observe_stage: Callable[[str, float], None] | None = None,
) -> tuple[Analysis, Artwork | None]:
    """Run the whole path for one upload; raises ``ImageDecodeError`` before writing anything.

    With a ``memory_budget``, the decode and analysis wait for room for their estimate
    (from the header's pixel count) so concurrent large images never add up past it.
    ``claim`` runs inside the transaction that records the analysis: a batch job marks its
    file done there, or raises to drop the analysis when another attempt already recorded it.
    ``observe_stage(stage, seconds)`` hears how long each stage took (the service's metrics).
    """
    stage = _StageClock(observe_stage)
    started = time.perf_counter()
    reserve = (
        memory_budget.reserve(estimate_analysis_bytes(*declared_image(data)))
        if memory_budget is not None
        else nullcontext()
    )
    with reserve:
        with stage("decode"):
            decoded = decode_upload(data, limits)  # the only decode of this upload
        with stage("model"):
            prediction = predictor.predict_images([decoded.image], [hashlib.sha256(data).hexdigest()])[0]
        with stage("provenance"):
            evidence = collect_evidence(data, c2pa_trust_anchors, image=decoded.image)
        fmt = decoded.format
        del decoded  # the pixels are not needed past this point
    decision = apply_policy(prediction.verdict, evidence)
    elapsed_ms = (time.perf_counter() - started) * 1000  # decode + model + provenance
    with stage("store"):
        sha256, created = store.put(data)
    try:
        with stage("commit"), sessions.begin() as session:
            lock_digest(session, sha256)
            crud.record_image(
                session, sha256=sha256, fmt=fmt, size=len(data),
                width=prediction.width, height=prediction.height,
            )  # fmt: skip
            # Another process's failed upload of the same bytes may have removed the file
            # between our put and this lock; under the lock nobody can remove it any more.
            if not store.exists(sha256):
                store.put(data)
            analysis = _analysis_row(prediction, decision, user_id, filename, evidence, elapsed_ms)
            analysis.idempotency_key = idempotency_key
            session.add(analysis)
            session.flush()
            if claim is not None:
                claim(session, analysis)
            work = None
            if artwork is not None:
                work = Artwork(
                    user_id=user_id,
                    analysis_id=analysis.id,
                    title=artwork.title,
                    artist=artwork.artist,
                )
                session.add(work)
                session.flush()
        log.info("analysed %r: %s (P(AI) %s) in %.0f ms", filename, analysis.verdict or analysis.label,
                 "-" if analysis.prob_ai is None else f"{analysis.prob_ai:.3f}", elapsed_ms)  # fmt: skip
        return analysis, work
    except BaseException as exc:
        # After a lock timeout the clean-up would wait as long again: the sweep takes the file.
        if created and not is_lock_timeout(exc):
            remove_if_unreferenced(sha256, sessions, store)
        raise


def _analysis_row(
    prediction: Prediction, decision: Decision, user_id: int, filename: str, evidence, elapsed_ms
) -> Analysis:
    cuts = prediction.cut_points or {}
    return Analysis(
        user_id=user_id,
        image_sha256=prediction.sha256,
        filename=filename[:255],
        verdict=decision.verdict,
        model_verdict=prediction.verdict,
        verdict_reason=decision.reason,
        prob_ai=prediction.prob_ai,
        score=prediction.score,
        probabilities=prediction.probabilities,
        label=prediction.label,
        threshold=cuts.get("ai"),
        uncertain_low=cuts.get("human"),
        uncertain_high=cuts.get("ai"),
        model_name=prediction.model["name"],
        model_sha256=prediction.model["sha256"],
        evidence=[e.to_dict() for e in evidence],
        processing_ms=round(elapsed_ms, 2),
    )


class _StageClock:
    """``with stage("model"): ...`` times the block and reports it (when it succeeded)."""

    def __init__(self, observe: Callable[[str, float], None] | None):
        self.observe = observe

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        if self.observe is not None:
            self.observe(name, time.perf_counter() - started)


def lock_digest(session: Session, sha256: str) -> None:
    """Serialise, across processes, the transactions that reference or remove one stored file.

    PostgreSQL: a transaction-scoped advisory lock on the digest. SQLite: writer transactions
    already hold the database's write lock from their start (``BEGIN IMMEDIATE``).
    """
    if session.get_bind().dialect.name == "postgresql":
        # Bounded like SQLite's busy timeout: never wait forever for another transaction.
        session.execute(text(f"SET LOCAL lock_timeout = '{DIGEST_LOCK_TIMEOUT_S}s'"))
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:digest))"), {"digest": sha256})


def is_referenced(session: Session, sha256: str) -> bool:
    """A recorded image, or a batch job's file waiting for its analysis."""
    if session.get(StoredImage, sha256) is not None:
        return True
    return (
        session.scalar(select(BatchJobFile.id).where(BatchJobFile.image_sha256 == sha256).limit(1))
        is not None
    )


def remove_if_unreferenced(sha256: str, sessions: sessionmaker[Session], store: ImageStore) -> None:
    """Remove a file this request created, unless a row references it (decided under the
    digest's lock; a concurrent upload of the same bytes re-creates the file under it)."""
    try:
        with sessions.begin() as session:
            lock_digest(session, sha256)
            if not is_referenced(session, sha256):
                store.delete(sha256)
    except Exception:  # noqa: BLE001 - the startup sweep removes it later
        log.exception("could not check %s after a failed write; left for the sweep", sha256)


# Orphan candidates are re-checked and removed under their digest locks this many at a time.
SWEEP_BATCH = 100


def sweep_orphans(sessions: sessionmaker[Session], store: ImageStore, min_age_s: float = 60.0) -> int:
    """Delete stored images that no row records (left by a crash between file and commit).

    Only objects older than ``min_age_s`` go. A snapshot of the referenced digests filters the
    listing cheaply, but an upload may reference an old orphan while the listing runs (a
    client's retry of an unanswered upload sends exactly those bytes), so every candidate is
    re-checked and removed under its digest lock, in the same transaction: an upload holding
    the lock either committed first (the re-check sees its row) or comes after and re-puts the
    file it finds missing. ``sessions`` must start writer transactions (SQLite: BEGIN
    IMMEDIATE), so that the re-check and the delete exclude every upload's commit.
    """
    with sessions() as session:
        known = set(session.scalars(select(StoredImage.sha256)))
        known.update(session.scalars(select(BatchJobFile.image_sha256).distinct()))
    removed = 0
    batch: list[str] = []
    for sha256 in store.digests_older_than(min_age_s):
        if sha256 not in known:
            batch.append(sha256)
        if len(batch) >= SWEEP_BATCH:
            removed += _remove_unreferenced(sessions, store, batch)
            batch = []
    if batch:
        removed += _remove_unreferenced(sessions, store, batch)
    store.remove_incomplete(min_age_s)
    return removed


def _remove_unreferenced(sessions: sessionmaker[Session], store: ImageStore, digests: list[str]) -> int:
    removed = 0
    with sessions.begin() as session:
        for sha256 in digests:
            lock_digest(session, sha256)
            if not is_referenced(session, sha256):
                store.delete(sha256)
                removed += 1
    return removed
