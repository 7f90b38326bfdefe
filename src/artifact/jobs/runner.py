"""What a worker does with one job: analyse each file not yet done, each into the owner's history.

Exactly once per file, whatever crashes: a file's analysis row and the mark on its job file
are committed in one transaction, under a row lock on the job file. A retried job skips files
already marked; an attempt racing another one finds the mark under the lock and drops its own
analysis.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from artifact.inference.decode import DecodeLimits, ImageDecodeError
from artifact.inference.engine import Predictor
from artifact.inference.memory_budget import MemoryBudget
from artifact.service import analyse_image
from artifact.storage.image_store import ImageStore
from artifact.storage.tables import Analysis, BatchJob, BatchJobFile, utcnow

log = logging.getLogger(__name__)


@dataclass
class WorkerContext:
    sessions: sessionmaker[Session]
    store: ImageStore
    predictor: Predictor
    limits: DecodeLimits
    memory_budget: MemoryBudget
    c2pa_trust_anchors: str | None = None


class AlreadyRecorded(Exception):
    """Another attempt recorded this file first."""


def run_job(context: WorkerContext, job_id: str, max_files: int | None = None) -> bool:
    """Analyse the job's next ``max_files`` pending files (all when None).

    Returns:
        True when files are left: the caller queues the job again behind the others, so one
        user's thousand-file job takes turns with everyone else's instead of holding a worker.
    """
    with context.sessions.begin() as session:
        # Locked: a deletion of the job either happened first (None) or waits for this turn.
        job = session.get(BatchJob, job_id, with_for_update=True)
        if job is None:
            return False  # deleted with its user, or by its owner
        job.status = "running"
        job.started_at = job.started_at or utcnow()
        job.attempts += 1
        user_id = job.user_id
    with context.sessions() as session:
        pending = session.scalars(
            select(BatchJobFile)
            .where(
                BatchJobFile.job_id == job_id,
                BatchJobFile.analysis_id.is_(None),
                BatchJobFile.error.is_(None),
            )
            .order_by(BatchJobFile.position)
            .limit(None if max_files is None else max_files + 1)
        ).all()
    turn = pending[:max_files]
    left = len(pending) > len(turn)
    log.info("job %s: %d files to analyse%s", job_id, len(turn), ", more after" if left else "")
    for job_file in turn:
        _run_file(context, job_file, user_id)
    with context.sessions.begin() as session:
        job = session.get(BatchJob, job_id, with_for_update=True)
        if job is None:
            return False
        # Between turns the job waits in the queue again (and may be deleted there).
        job.status = "queued" if left else "done"
        job.finished_at = None if left else utcnow()
    if left:
        return True
    log.info("job %s: done", job_id)
    return False


def _lock_file(session: Session, file_id: int) -> BatchJobFile:
    job_file = session.scalars(select(BatchJobFile).where(BatchJobFile.id == file_id).with_for_update()).one()
    if job_file.analysis_id is not None or job_file.error is not None:
        raise AlreadyRecorded
    return job_file


def _run_file(context: WorkerContext, job_file: BatchJobFile, user_id: int) -> None:
    def claim(session: Session, analysis: Analysis) -> None:
        _lock_file(session, job_file.id).analysis_id = analysis.id

    try:
        data = context.store.read(job_file.image_sha256)
        analyse_image(
            data, filename=job_file.filename, user_id=user_id, predictor=context.predictor,
            sessions=context.sessions, store=context.store, limits=context.limits,
            c2pa_trust_anchors=context.c2pa_trust_anchors, memory_budget=context.memory_budget, claim=claim,
        )  # fmt: skip
    except AlreadyRecorded:
        log.info("job file %s was already recorded by another attempt", job_file.id)
    except (ImageDecodeError, FileNotFoundError) as exc:
        message, code = (
            (exc.message, exc.code)
            if isinstance(exc, ImageDecodeError)
            else ("the stored file is missing", "missing")
        )
        try:
            with context.sessions.begin() as session:
                locked = _lock_file(session, job_file.id)
                locked.error, locked.error_code = message[:2000], code
        except AlreadyRecorded:
            pass
