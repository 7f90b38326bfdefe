"""Submitting a job: store each file, then commit the job and its files in one transaction.

The same guarantees as a single upload: files first, rows second; if anything fails before
the commit, the files this submission created and nothing references are removed again.
"""

from __future__ import annotations

import uuid
from typing import BinaryIO

from sqlalchemy.orm import Session, sessionmaker

from artifact.jobs.intake import Intake, IntakeError
from artifact.service import _remove_if_unreferenced, lock_digest
from artifact.storage.image_store import ImageStore
from artifact.storage.tables import BatchJob, BatchJobFile


def submit_job(
    uploads: list[tuple[str, BinaryIO]],
    *,
    user_id: int,
    sessions: sessionmaker[Session],
    store: ImageStore,
    max_files: int,
    max_file_bytes: int,
    max_total_bytes: int,
) -> tuple[BatchJob, list[str]]:
    """The committed job and the entries skipped as not images (name and why; the first 100).

    Raises:
        IntakeError: a limit broken, an unreadable archive, or no image at all.
    """
    created: list[str] = []

    def accept(filename: str, data: bytes) -> tuple[str, str]:
        digest, was_created = store.put(data)
        if was_created:
            created.append(digest)
        return filename, digest

    intake = Intake(accept, max_files, max_file_bytes, max_total_bytes)
    try:
        for filename, handle in uploads:
            intake.add_upload(filename, handle)
        if not intake.accepted:
            raise IntakeError("the submission holds no image files", "empty_job")
        with sessions.begin() as session:
            job = BatchJob(
                id=uuid.uuid4().hex, user_id=user_id, status="queued", total=len(intake.accepted), attempts=0
            )
            session.add(job)
            # Under each digest's lock (sorted: no deadlock between two submissions), a
            # concurrent clean-up can no longer remove a file this job is about to reference.
            for digest in sorted({digest for _name, digest in intake.accepted}):
                lock_digest(session, digest)
                if not store.exists(digest):
                    raise IntakeError(
                        "a file was removed while the job was stored; submit again", "busy", 503
                    )
            session.add_all(
                BatchJobFile(job_id=job.id, position=position, filename=filename, image_sha256=digest)
                for position, (filename, digest) in enumerate(intake.accepted)
            )
        unlisted = intake.skipped_count - len(intake.skipped)
        return job, intake.skipped + ([f"... and {unlisted} more"] if unlisted else [])
    except BaseException:
        for digest in created:
            _remove_if_unreferenced(digest, sessions, store)
        raise
