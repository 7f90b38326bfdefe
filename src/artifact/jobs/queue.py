"""The job queue: procrastinate on the service's own PostgreSQL database.

procrastinate gives us what a home-made queue would get wrong: ``FOR UPDATE SKIP LOCKED``
fetching, LISTEN/NOTIFY wake-ups, worker heartbeats, per-job locks and retries. Our part is
small: one task (``analyse_job``), its schema applied once, deferring after the job's rows are
committed, turns (a job runs a slice of its files, then queues itself again behind the other
jobs, at a lower priority the more unfinished jobs its owner has), and a reaper that gives the
jobs of dead workers (no heartbeat for ``worker_stalled_seconds``) and of lost deferrals back
to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.schema import SchemaManager
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from artifact.storage.tables import BatchJob, utcnow

log = logging.getLogger(__name__)

TASK = "artifact.analyse_job"
QUEUE = "artifact-jobs"
MAX_ATTEMPTS = 10
SCHEMA_LOCK = 7243312


class JobsUnavailable(RuntimeError):
    """Batch jobs need the PostgreSQL queue."""


def conninfo(database_url: str) -> str:
    """SQLAlchemy's ``postgresql+psycopg://`` URL as the plain libpq URL procrastinate takes."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise JobsUnavailable(
            "batch jobs need PostgreSQL (ARTIFACT_DATABASE_URL=postgresql+psycopg://...) "
            "and an `artifact worker`"
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def job_lock(job_id: str) -> str:
    return f"batch-job-{job_id}"


def make_queue(database_url: str, run=None, sessions=None) -> procrastinate.App:
    """The queue app; ``run(job_id) -> files left?`` is the task body in a worker (None to only
    defer), ``sessions`` the service database's session factory it queues the next turn with."""
    # A replica only defers (one connection at a time); a worker needs a few for its jobs,
    # heartbeats and LISTEN.
    connector = procrastinate.PsycopgConnector(conninfo=conninfo(database_url), min_size=1, max_size=8)
    app = procrastinate.App(connector=connector)
    # Errors that are not a file's own (database or store outage) retry the job; it resumes
    # where it stopped, so a retry never repeats finished files.
    retry = procrastinate.RetryStrategy(max_attempts=MAX_ATTEMPTS, wait=5, linear_wait=5)

    def analyse_job(job_id: str) -> None:
        if run is None:
            raise RuntimeError("this process only defers jobs")
        if run(job_id):  # files left: the next turn waits behind the jobs queued meanwhile
            defer(app, job_id, sessions)

    app.task(name=TASK, queue=QUEUE, retry=retry)(analyse_job)
    return app


def ensure_queue_schema(engine: Engine) -> None:
    """Install procrastinate's tables once (replicas and workers starting together wait in line)."""
    with engine.connect() as connection:
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({SCHEMA_LOCK})")
        connection.commit()
        try:
            if connection.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar() is None:
                raw = connection.connection.driver_connection
                raw.execute(SchemaManager.get_schema())  # no parameters: no % parsing
                raw.commit()
                log.info("installed the job queue's schema")
        finally:
            connection.exec_driver_sql(f"SELECT pg_advisory_unlock({SCHEMA_LOCK})")
            connection.commit()


def fair_priority(sessions, job_id: str) -> int:
    """Minus the owner's other unfinished jobs: a user with one job goes before one with ten."""
    with sessions() as session:
        owner = select(BatchJob.user_id).where(BatchJob.id == job_id).scalar_subquery()
        others = session.scalar(
            select(func.count()).select_from(BatchJob).where(
                BatchJob.user_id == owner, BatchJob.id != job_id, BatchJob.status.in_(("queued", "running"))
            )
        )
    return -int(others or 0)


def _deferrer(app: procrastinate.App, job_id: str, sessions):
    # The lock keeps two attempts at one job apart; the queueing lock keeps one waiting at most.
    priority = fair_priority(sessions, job_id) if sessions is not None else 0
    return app.configure_task(TASK, lock=job_lock(job_id), queueing_lock=job_lock(job_id), priority=priority)


def defer(app: procrastinate.App, job_id: str, sessions=None) -> None:
    """Queue a job (its next turn) once: a second deferral while one waits is a no-op."""
    with contextlib.suppress(AlreadyEnqueued):
        _deferrer(app, job_id, sessions).defer(job_id=job_id)


async def defer_async(app: procrastinate.App, job_id: str, sessions=None) -> None:
    with contextlib.suppress(AlreadyEnqueued):
        await _deferrer(app, job_id, sessions).defer_async(job_id=job_id)


async def reap(app: procrastinate.App, sessions, stalled_seconds: float) -> int:
    """Give back to the queue what would otherwise wait forever; returns how many jobs."""
    requeued = 0
    # A worker that died (kill -9, OOM, lost machine) holds jobs in `doing` with no heartbeat.
    for job in await app.job_manager.get_stalled_jobs(queue=QUEUE, seconds_since_heartbeat=stalled_seconds):
        await app.job_manager.retry_job(job)
        log.warning("job %s of a dead worker is queued again", job.task_kwargs.get("job_id"))
        requeued += 1
    # A job committed but never deferred (its replica died in between) or whose retries ran out.
    cutoff = utcnow() - timedelta(seconds=stalled_seconds)
    with sessions() as session:
        unfinished = session.execute(
            select(BatchJob.id, BatchJob.attempts).where(
                BatchJob.status.in_(("queued", "running")), BatchJob.created_at < cutoff
            )
        ).all()
    for job_id, attempts in unfinished:
        queued = await app.job_manager.list_jobs_async(lock=job_lock(job_id))
        if any(job.status in ("todo", "doing") for job in queued):
            continue
        if attempts >= MAX_ATTEMPTS:
            with sessions.begin() as session:
                job = session.get(BatchJob, job_id)
                job.status, job.finished_at = "failed", utcnow()
            log.error("job %s failed %d times; given up", job_id, attempts)
            continue
        await defer_async(app, job_id, sessions)
        log.warning("job %s had nothing queued: queued again", job_id)
        requeued += 1
    return requeued


async def run_worker(app: procrastinate.App, sessions, settings) -> None:
    """Process jobs until cancelled, reaping every few seconds alongside."""

    async def reaper() -> None:
        while True:
            try:
                await reap(app, sessions, settings.worker_stalled_seconds)
            except Exception:  # noqa: BLE001 - the database may be briefly away; try again
                log.exception("reaping failed; trying again")
            await asyncio.sleep(max(1.0, settings.worker_stalled_seconds / 3))

    async with app.open_async():
        task = asyncio.create_task(reaper())
        try:
            await app.run_worker_async(
                queues=[QUEUE],
                concurrency=settings.worker_concurrency,
                update_heartbeat_interval=settings.worker_heartbeat_seconds,
                stalled_worker_timeout=settings.worker_stalled_seconds,
            )
        finally:
            task.cancel()
