"""How many bytes of stored images a user's rows hold, for the per-user storage quota.

Counted by distinct image (the store is content-addressed: the same bytes uploaded twice are
stored once): the images of the user's analyses, and the files of the user's batch jobs that
no analysis has recorded yet. Two concurrent uploads may both pass a nearly full quota; the
overshoot is bounded by one upload per request in flight.
"""

from __future__ import annotations

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from artifact.storage.tables import Analysis, BatchJob, BatchJobFile, StoredImage


def stored_bytes(session: Session, user_id: int) -> int:
    analysed = (
        select(StoredImage.sha256.label("sha256"), StoredImage.bytes.label("size"))
        .join(Analysis, Analysis.image_sha256 == StoredImage.sha256)
        .where(Analysis.user_id == user_id)
    )
    waiting = (
        select(BatchJobFile.image_sha256.label("sha256"), BatchJobFile.size.label("size"))
        .join(BatchJob, BatchJob.id == BatchJobFile.job_id)
        .where(BatchJob.user_id == user_id, BatchJobFile.analysis_id.is_(None))
    )
    images = union(analysed, waiting).subquery()  # UNION drops the same image counted twice
    return int(session.scalar(select(func.coalesce(func.sum(images.c.size), 0))) or 0)


def room_left(session: Session, user_id: int, quota_bytes: int) -> int | None:
    """Bytes the user may still store; None when there is no quota (0)."""
    if quota_bytes <= 0:
        return None
    return quota_bytes - stored_bytes(session, user_id)
