"""Submitting a job: store each file, then commit the job and its files in one transaction.

The same guarantees as a single upload: files first, rows second; if anything fails before
the commit, the files this submission created and nothing references are removed again.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import BinaryIO

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from artifact.jobs.intake import Intake, IntakeError
from artifact.service import lock_digest, remove_if_unreferenced
from artifact.storage.image_store import ImageStore
from artifact.storage.tables import BatchJob, BatchJobFile
from artifact.units import byte_size


def submit_job(
    uploads: list[tuple[str, BinaryIO]],
    *,
    user_id: int,
    sessions: sessionmaker[Session],
    store: ImageStore,
    max_files: int,
    max_file_bytes: int,
    max_total_bytes: int,
    room_left: int | None = None,
    idempotency_key: str | None = None,
) -> tuple[BatchJob, list[str], bool]:
    """The committed job, the entries skipped as not images (name and why; the first 100), and
    whether the job is an earlier submission with the same ``idempotency_key`` (a replay).

    Raises:
        IntakeError: a limit broken (``room_left``: the owner's storage quota), an unreadable
            archive, no image at all, or the key reused for other files.
    """
    created: list[str] = []
    sizes: dict[str, int] = {}

    def accept(filename: str, data: bytes) -> tuple[str, str]:
        digest, was_created = store.put(data)
        if was_created:
            created.append(digest)
        sizes[digest] = len(data)
        return filename, digest

    intake = Intake(accept, max_files, max_file_bytes, max_total_bytes)
    try:
        for filename, handle in uploads:
            intake.add_upload(filename, handle)
        if not intake.accepted:
            raise IntakeError("the submission holds no image files", "empty_job")
        fingerprint = hashlib.sha256(
            "\n".join(f"{name}\0{digest}" for name, digest in intake.accepted).encode()
        ).hexdigest()
        if idempotency_key:
            earlier = _earlier_job(sessions, user_id, idempotency_key, fingerprint)
            if earlier is not None:
                return earlier, [], True
        if room_left is not None and intake.total_bytes > room_left:
            raise IntakeError(
                f"the job's {byte_size(intake.total_bytes)} of images would pass your storage quota "
                f"({byte_size(max(room_left, 0))} left); delete jobs you no longer need",
                "quota_exceeded", 403,
            )  # fmt: skip
        try:
            job = _commit_job(sessions, store, user_id, intake.accepted, sizes, idempotency_key, fingerprint)
        except IntegrityError:
            # A concurrent retry with the same key committed first: answer with its job.
            if not idempotency_key:
                raise
            earlier = _earlier_job(sessions, user_id, idempotency_key, fingerprint)
            if earlier is None:
                raise
            return earlier, [], True
        unlisted = intake.skipped_count - len(intake.skipped)
        return job, intake.skipped + ([f"... and {unlisted} more"] if unlisted else []), False
    except BaseException:
        for digest in created:
            remove_if_unreferenced(digest, sessions, store)
        raise


def _earlier_job(sessions, user_id: int, key: str, fingerprint: str) -> BatchJob | None:
    with sessions() as session:
        earlier = session.scalar(
            select(BatchJob).where(BatchJob.user_id == user_id, BatchJob.idempotency_key == key)
        )
        if earlier is not None and earlier.request_sha256 != fingerprint:
            raise IntakeError(
                "this Idempotency-Key was already used for other files", "validation_error", 422
            )
        if earlier is not None:
            session.expunge(earlier)
        return earlier


def _commit_job(sessions, store, user_id, accepted, sizes, idempotency_key, fingerprint) -> BatchJob:
    with sessions.begin() as session:
        job = BatchJob(
            id=uuid.uuid4().hex, user_id=user_id, status="queued", total=len(accepted), attempts=0,
            idempotency_key=idempotency_key, request_sha256=fingerprint,
        )  # fmt: skip
        session.add(job)
        # Under each digest's lock (sorted: no deadlock between two submissions), a
        # concurrent clean-up can no longer remove a file this job is about to reference.
        for digest in sorted({digest for _name, digest in accepted}):
            lock_digest(session, digest)
            if not store.exists(digest):
                raise IntakeError(
                    "a file was removed while the job was stored; submit again", "busy", 503
                )
        session.add_all(
            BatchJobFile(job_id=job.id, position=position, filename=filename, image_sha256=digest,
                         size=sizes[digest])
            for position, (filename, digest) in enumerate(accepted)
        )  # fmt: skip
    return job
