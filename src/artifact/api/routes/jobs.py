"""Batch jobs: submit many files (or zips) at once, then follow the job as a worker analyses it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Header, Path, Request, Response, UploadFile
from sqlalchemy import delete as sa_delete
from sqlalchemy import func, select

from artifact.api.deps import CurrentUser, SessionDep, SettingsDep, StoreDep
from artifact.api.errors import Conflict, NotFound, QuotaExceeded, ServiceUnavailable
from artifact.api.presenters import analysis_public
from artifact.api.schemas import JobFilePublic, JobPublic, JobsPublic, Limit, Offset
from artifact.service import remove_if_unreferenced
from artifact.storage.quota import room_left
from artifact.storage.tables import Analysis, BatchJob, BatchJobFile
from artifact.units import byte_size

router = APIRouter(prefix="/v1", tags=["jobs"])
JobId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


class JobsUnavailableError(ServiceUnavailable):
    code = "jobs_unavailable"


class JobRunning(Conflict):
    code = "job_running"


@router.post("/jobs", response_model=JobPublic, status_code=202)
def submit(
    request: Request,
    response: Response,
    files: Annotated[list[UploadFile], File(description="images and/or zip archives of images")],
    user: CurrentUser,
    settings: SettingsDep,
    store: StoreDep,
    session: SessionDep,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=128, description="a retry with the same key and files gets the first job back"),
    ] = None,
) -> JobPublic:
    """Store the files and queue the job; answers at once with its id (202). An `artifact worker`
    analyses it; each result also lands in the caller's history. With an ``Idempotency-Key``, a
    retry with the same files gets the job first queued (200, ``Idempotent-Replayed: true``)."""
    queue = request.app.state.job_queue
    if queue is None:  # checked before importing the queue: the serve install lacks procrastinate
        raise JobsUnavailableError(request.app.state.job_queue_problem)
    from artifact.jobs.queue import defer
    from artifact.jobs.submission import submit_job

    room = room_left(session, user.id, settings.storage_quota_mb * 1024 * 1024)
    session.commit()
    if room is not None and room <= 0:
        quota = byte_size(settings.storage_quota_mb * 1024 * 1024)
        raise QuotaExceeded(f"your stored images fill your quota of {quota}; delete jobs you no longer need")
    job, skipped, replayed = submit_job(
        [(upload.filename or "", upload.file) for upload in files],
        user_id=user.id, sessions=request.app.state.writer_sessions, store=store,
        max_files=settings.job_max_files, max_file_bytes=settings.max_upload_bytes,
        max_total_bytes=settings.job_max_bytes, room_left=room, idempotency_key=idempotency_key,
    )  # fmt: skip
    if replayed:
        response.status_code = 200
        response.headers["Idempotent-Replayed"] = "true"
        return get_job(job.id, user, session)
    # Committed first, queued second: if this replica dies in between, a worker's reaper
    # finds the job with nothing queued and queues it.
    defer(queue, job.id, request.app.state.sessions)
    return _public(job, done=0, failed=0, skipped=skipped)


@router.delete("/jobs/{job_id}", status_code=204)
def delete_job(job_id: JobId, request: Request, user: CurrentUser, store: StoreDep) -> Response:
    """Remove a job that is not being worked on (queued, between turns, or finished), its list
    of files, and every stored file of it that no analysis keeps. Analyses it already made stay
    in the history. 409 ``job_running`` while a worker holds it: try again in a moment."""


    sessions = request.app.state.writer_sessions
    with sessions.begin() as session:
        # Locked: a worker starting its turn either got it first (status running) or waits.
        job = session.get(BatchJob, job_id, with_for_update=True)
        if job is None or (job.user_id != user.id and user.role != "admin"):
            raise NotFound("no such job")
        if job.status == "running":
            raise JobRunning("a worker is analysing this job's files; delete it when its turn ends")
        digests = set(session.scalars(select(BatchJobFile.image_sha256).where(BatchJobFile.job_id == job_id)))
        session.execute(sa_delete(BatchJobFile).where(BatchJobFile.job_id == job_id))
        session.delete(job)
    for digest in sorted(digests):
        remove_if_unreferenced(digest, sessions, store)
    return Response(status_code=204)


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(job_id: JobId, user: CurrentUser, session: SessionDep) -> JobPublic:
    """Status, progress and every file's result (its analysis, or its error)."""
    job = session.get(BatchJob, job_id)
    if job is None or (job.user_id != user.id and user.role != "admin"):
        raise NotFound("no such job")
    rows = session.execute(
        select(BatchJobFile, Analysis)
        .outerjoin(Analysis, Analysis.id == BatchJobFile.analysis_id)
        .where(BatchJobFile.job_id == job_id)
        .order_by(BatchJobFile.position)
    ).all()
    results = [_file_public(job_file, analysis) for job_file, analysis in rows]
    failed = sum(1 for item in results if item.status == "error")
    done = sum(1 for item in results if item.status != "pending")
    return _public(job, done=done, failed=failed, results=results)


@router.get("/jobs", response_model=JobsPublic)
def list_jobs(user: CurrentUser, session: SessionDep, limit: Limit = 50, offset: Offset = 0) -> JobsPublic:
    """The caller's jobs, newest first, with progress (results: GET /v1/jobs/{id})."""
    jobs = session.scalars(
        select(BatchJob)
        .where(BatchJob.user_id == user.id)
        .order_by(BatchJob.created_at.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    count = session.scalar(select(func.count()).select_from(BatchJob).where(BatchJob.user_id == user.id))
    # count(column) counts the non-null ones: analysed files, and failed ones.
    counts = {
        job_id: (analysed + failed, failed)
        for job_id, analysed, failed in session.execute(
            select(BatchJobFile.job_id, func.count(BatchJobFile.analysis_id), func.count(BatchJobFile.error))
            .where(BatchJobFile.job_id.in_([job.id for job in jobs]))
            .group_by(BatchJobFile.job_id)
        ).all()
    }
    data = [
        _public(job, done=counts.get(job.id, (0, 0))[0], failed=counts.get(job.id, (0, 0))[1]) for job in jobs
    ]
    return JobsPublic(data=data, count=count or 0)


def _file_public(job_file: BatchJobFile, analysis: Analysis | None) -> JobFilePublic:
    if analysis is not None:
        status, error = "done", None
    elif job_file.error is not None:
        status, error = "error", {"code": job_file.error_code, "message": job_file.error}
    else:
        status, error = "pending", None
    return JobFilePublic(
        position=job_file.position,
        filename=job_file.filename,
        status=status,
        analysis=analysis_public(analysis) if analysis is not None else None,
        error=error,
    )


def _public(job: BatchJob, *, done: int, failed: int, skipped=None, results=None) -> JobPublic:
    return JobPublic(
        id=job.id, status=job.status, total=job.total, done=done, failed=failed, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at, skipped=skipped or [], results=results,
        url=f"/v1/jobs/{job.id}",
    )  # fmt: skip
