"""``artifact worker``: batch jobs from the PostgreSQL queue (procrastinate)."""

from __future__ import annotations

import argparse
import os

from artifact.cli.common import (
    SHOW_DEFAULTS,
    apply_service_options,
    console,
    load_predictor,
    migrated_engine,
)


def register(commands) -> None:
    worker = commands.add_parser(
        "worker",
        **SHOW_DEFAULTS,
        help="process batch jobs (POST /v1/jobs) from the PostgreSQL queue",
        description="Same settings as `artifact serve` (ARTIFACT_* variables); needs PostgreSQL.",
    )
    worker.add_argument("--data-dir", help="the service's data directory (ARTIFACT_DATA_DIR)")
    worker.add_argument("--model", help="model directory (ARTIFACT_MODEL_DIR; default: bundled)")
    worker.add_argument(
        "--concurrency", type=int, help="jobs at once (ARTIFACT_WORKER_CONCURRENCY, default 1)"
    )
    worker.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from artifact.config import Settings
    from artifact.errors import UserFacingError

    apply_service_options(args)
    if args.concurrency:
        os.environ["ARTIFACT_WORKER_CONCURRENCY"] = str(args.concurrency)
    settings = Settings()
    try:
        from artifact.jobs import queue
        from artifact.jobs.runner import WorkerContext, run_job
    except ImportError as exc:
        raise UserFacingError(
            f"the worker needs the cluster extra: pip install 'artifact[cluster]' ({exc})"
        ) from None
    try:
        queue.conninfo(settings.resolved_database_url)
    except queue.JobsUnavailable as exc:
        raise UserFacingError(str(exc)) from None
    from artifact.inference.memory_budget import MemoryBudget
    from artifact.storage.database import session_factory
    from artifact.storage.stores import open_image_store

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    engine = migrated_engine(settings)
    queue.ensure_queue_schema(engine)
    context = WorkerContext(
        sessions=session_factory(engine),
        store=open_image_store(settings),
        predictor=load_predictor(str(settings.model_dir) if settings.model_dir else None),
        limits=settings.decode_limits(),
        memory_budget=MemoryBudget(settings.memory_budget_mb * 1024 * 1024),
        c2pa_trust_anchors=settings.c2pa_trust_anchors_pem(),
    )
    app = queue.make_queue(
        settings.resolved_database_url,
        run=lambda job_id: run_job(context, job_id, settings.job_turn_files),
        sessions=context.sessions,
    )
    console.print(
        f"ArtiFact worker: model {context.predictor.card.name}, images in {context.store.describe()}"
    )
    try:
        asyncio.run(queue.run_worker(app, context.sessions, settings))
    except KeyboardInterrupt:
        pass
    finally:
        engine.dispose()
    return 0
