"""Batch jobs: submission limits, the PostgreSQL queue (procrastinate) and exactly-once results."""

from __future__ import annotations

import asyncio
import io
import threading
import zipfile

import pytest
from sqlalchemy import func, select

from tests.support.api import assert_error, image_bytes, register

pytest.importorskip("procrastinate", reason="the cluster extra is not installed")

from artifact.jobs.intake import Intake, IntakeError  # noqa: E402


def zip_of(entries: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def intake(**limits) -> Intake:
    defaults = {"max_files": 10, "max_file_bytes": 1000, "max_total_bytes": 5000}
    return Intake(lambda name, data: (name, len(data)), **{**defaults, **limits})


PNG = b"\x89PNG\r\n\x1a\n"  # what the bytes of a PNG start with (intake sniffs, never decodes)


def test_a_zip_is_expanded_to_its_images_only():
    archive = zip_of({"a.png": PNG + b"x" * 2, "sub/b.JPG": b"\xff\xd8\xff" + b"y" * 17, "notes.txt": b"hello",
                      "__MACOSX/._a.png": b"z", ".hidden.png": b"h", "sub/": b""})  # fmt: skip
    taken = intake()
    taken.add_upload("art.zip", io.BytesIO(archive))
    taken.add_upload("single.webp", io.BytesIO(b"RIFF\0\0\0\0WEBP" + b"w" * 18))
    assert taken.accepted == [("a.png", 10), ("b.JPG", 20), ("single.webp", 30)]
    assert taken.skipped == ["notes.txt (not an image name)"]


def test_entries_that_are_not_images_are_never_stored_and_all_count():
    """A 512 KB zip of twenty 25 MB zero-filled "*.png" entries stored 500 MB before."""
    stored = []
    zeros = zip_of({f"z{i}.png": b"\0" * 4000 for i in range(3)})
    taken = Intake(lambda name, data: stored.append(len(data)), max_files=10, max_file_bytes=5000,
                   max_total_bytes=50_000)  # fmt: skip
    taken.add_upload("zeros.zip", io.BytesIO(zeros))
    assert stored == [] and taken.total_bytes == 0
    assert taken.skipped == [f"z{i}.png (not an image)" for i in range(3)]
    many = zip_of({f"note{i}.txt": b"x" for i in range(20)})
    with pytest.raises(IntakeError) as caught:
        intake(max_files=10).add_upload("notes.zip", io.BytesIO(many))
    assert caught.value.code == "too_many_files"  # non-images count against the limit too
    listed = intake(max_files=1000)
    listed.add_upload("notes.zip", io.BytesIO(zip_of({f"n{i}.txt": b"x" for i in range(300)})))
    assert len(listed.skipped) == 100 and listed.skipped_count == 300


def test_a_zip_bomb_stops_at_the_limit_without_inflating_it():
    import tracemalloc

    bomb = zip_of({"bomb.png": b"\0" * (200 * 1024 * 1024)})  # 200 MB of zeros in ~200 KB
    assert len(bomb) < 1024 * 1024
    tracemalloc.start()
    try:
        with pytest.raises(IntakeError) as caught:
            intake(max_file_bytes=1024 * 1024, max_total_bytes=8 * 1024 * 1024).add_upload(
                "bomb.zip", io.BytesIO(bomb)
            )
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert caught.value.code == "payload_too_large" and caught.value.status == 413
    assert peak_mb < 8  # inflated at most one byte past the 1 MB limit, never the 200 MB


@pytest.mark.parametrize(
    "uploads, limits, code",
    [
        ({f"f{i}.png": b"x" for i in range(4)}, {"max_files": 3}, "too_many_files"),
        ({"big.png": b"x" * 1001}, {}, "payload_too_large"),
        ({f"f{i}.png": PNG + b"x" * 892 for i in range(6)}, {}, "payload_too_large"),  # 5400 > 5000
    ],
)
def test_limits_on_files_and_bytes(uploads, limits, code):
    taken = intake(**limits)
    with pytest.raises(IntakeError) as caught:
        for name, data in uploads.items():
            taken.add_upload(name, io.BytesIO(data))
    assert caught.value.code == code


def test_a_broken_zip_is_a_clear_error():
    with pytest.raises(IntakeError) as caught:
        intake().add_upload("broken.zip", io.BytesIO(b"PK\x03\x04 and then nothing of a zip"))
    assert caught.value.code == "bad_archive"


def test_jobs_on_sqlite_answer_503_with_the_reason(artbench_run, tmp_path):
    from fastapi.testclient import TestClient

    from artifact.api.app import create_app
    from artifact.config import Settings

    settings = Settings(data_dir=tmp_path / "svc", model_dir=artbench_run, secret_key="x" * 40)
    with TestClient(create_app(settings)) as client:
        headers = register(client, "sqlite-user")
        response = client.post(
            "/v1/jobs", files=[("files", ("a.png", image_bytes("ai", seed=1)))], headers=headers
        )
        assert_error(response, 503, "jobs_unavailable")
        assert "PostgreSQL" in response.json()["error"]["message"]


def test_jobs_without_the_cluster_extra_answer_503_not_500(artbench_run, tmp_path, monkeypatch):
    """The README's serve install has no procrastinate: the route must not import it first."""
    import sys

    from fastapi.testclient import TestClient

    from artifact.api.app import create_app
    from artifact.config import Settings

    monkeypatch.setitem(sys.modules, "procrastinate", None)  # import procrastinate -> ImportError
    for name in [m for m in sys.modules if m.startswith("artifact.jobs.")]:
        monkeypatch.delitem(sys.modules, name)
    settings = Settings(data_dir=tmp_path / "svc", model_dir=artbench_run, secret_key="x" * 40)
    with TestClient(create_app(settings)) as client:
        ready = client.get("/readyz").json()
        assert ready["capabilities"]["batch_jobs"] is False
        headers = register(client, "serve-only")
        response = client.post(
            "/v1/jobs", files=[("files", ("a.png", image_bytes("ai", seed=1)))], headers=headers
        )
        assert_error(response, 503, "jobs_unavailable")


# ---- on PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture
def pg_settings(postgres_url, artbench_run, tmp_path):
    from artifact.config import Settings

    return Settings(
        data_dir=tmp_path / "svc", database_url=postgres_url, model_dir=artbench_run, secret_key="k" * 40,
        rate_limit_per_minute=10_000, job_max_files=20, worker_stalled_seconds=2, worker_heartbeat_seconds=0.5,
    )  # fmt: skip


@pytest.fixture
def pg_client(pg_settings):
    from fastapi.testclient import TestClient

    from artifact.api.app import create_app

    with TestClient(create_app(pg_settings)) as client:
        yield client


def stored_files(settings) -> list:
    return [p for p in settings.images_dir.rglob("*") if p.is_file()]


def worker_parts(settings):
    """What `artifact worker` builds: a context over the service's database and store."""
    from artifact.inference.engine import Predictor
    from artifact.inference.memory_budget import MemoryBudget
    from artifact.jobs.runner import WorkerContext
    from artifact.storage.database import create_db_engine, session_factory
    from artifact.storage.stores import open_image_store

    engine = create_db_engine(settings.resolved_database_url)
    context = WorkerContext(
        sessions=session_factory(engine), store=open_image_store(settings), predictor=Predictor(settings.model_dir),
        limits=settings.decode_limits(), memory_budget=MemoryBudget(1 << 30),
    )  # fmt: skip
    return engine, context


def drain_queue(settings, context, turn_files: int | None = None) -> None:
    """Run a real procrastinate worker (one job at a time) until the queue is empty."""
    from artifact.jobs import queue
    from artifact.jobs.runner import run_job

    app = queue.make_queue(
        settings.resolved_database_url, run=lambda job_id: run_job(context, job_id, turn_files),
        sessions=context.sessions,
    )  # fmt: skip

    async def main() -> None:
        async with app.open_async():
            await app.run_worker_async(queues=[queue.QUEUE], wait=False, install_signal_handlers=False)

    asyncio.run(main())


def submit(client, headers, count: int, zipped: int = 0, broken: bool = True):
    files = [
        ("files", (f"file-{i}.png", image_bytes("ai" if i % 2 else "human", seed=100 + i)))
        for i in range(count)
    ]
    if zipped:
        archive = zip_of({f"zipped-{i}.png": image_bytes("ai", seed=200 + i) for i in range(zipped)})
        files.append(("files", ("more.zip", archive)))
    if broken:
        files.append(("files", ("broken.jpg", b"\xff\xd8\xff not a JPEG")))
    return client.post("/v1/jobs", files=files, headers=headers)


def test_a_job_is_queued_processed_by_a_worker_and_lands_in_the_history(pg_client, pg_settings):
    headers = register(pg_client, "juror")
    response = submit(pg_client, headers, 4, zipped=3)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and job["total"] == 8 and job["done"] == 0

    engine, context = worker_parts(pg_settings)
    try:
        drain_queue(pg_settings, context)
    finally:
        engine.dispose()

    job = pg_client.get(job["url"], headers=headers).json()
    assert job["status"] == "done" and job["done"] == 8 and job["failed"] == 1
    names = [item["filename"] for item in job["results"]]
    assert names == [
        *(f"file-{i}.png" for i in range(4)),
        *(f"zipped-{i}.png" for i in range(3)),
        "broken.jpg",
    ]
    assert job["results"][-1]["status"] == "error" and job["results"][-1]["error"]["code"]
    done = [item["analysis"] for item in job["results"] if item["status"] == "done"]
    history = pg_client.get("/v1/analyses?limit=100", headers=headers).json()
    assert sorted(a["id"] for a in done) == sorted(a["id"] for a in history["data"])
    assert pg_client.get("/v1/jobs", headers=headers).json()["data"][0]["done"] == 8
    # Another user sees nothing of it.
    assert_error(pg_client.get(job["url"], headers=register(pg_client, "other")), 404)


def test_two_attempts_at_one_job_record_each_file_once(pg_client, pg_settings, monkeypatch):
    from artifact.jobs import runner
    from artifact.jobs.runner import run_job
    from artifact.storage.tables import Analysis

    headers = register(pg_client, "racer")
    job_id = submit(pg_client, headers, 6, broken=True).json()["id"]
    engine, context = worker_parts(pg_settings)
    # Both attempts reach their first file before either analyses it: they really overlap.
    barrier, started, run_file = threading.Barrier(2, timeout=60), set(), runner._run_file

    def overlapping(*args, **kwargs):
        if threading.get_ident() not in started:
            started.add(threading.get_ident())
            barrier.wait()
        return run_file(*args, **kwargs)

    monkeypatch.setattr(runner, "_run_file", overlapping)
    try:
        threads = [threading.Thread(target=run_job, args=(context, job_id)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        run_job(context, job_id)  # a retry after the job finished: nothing left to do
        with context.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Analysis)) == 6
    finally:
        engine.dispose()
    job = pg_client.get(f"/v1/jobs/{job_id}", headers=headers).json()
    assert job["done"] == 7 and job["failed"] == 1
    assert len({item["analysis"]["id"] for item in job["results"] if item["analysis"]}) == 6


def test_jobs_take_turns_so_a_big_job_does_not_hold_the_worker(pg_client, pg_settings):
    """Before, a 5,000-file job kept another user's one-image job waiting until it finished."""
    from artifact.storage.tables import Analysis

    busy, waiting = register(pg_client, "busy-juror"), register(pg_client, "one-image")
    big = [submit(pg_client, busy, 6, broken=False).json()["id"] for _ in range(2)]
    small = submit(pg_client, waiting, 1, broken=False).json()["id"]
    engine, context = worker_parts(pg_settings)
    try:
        drain_queue(pg_settings, context, turn_files=2)
        with context.sessions() as session:
            owners = session.scalars(select(Analysis.user_id).order_by(Analysis.id)).all()
    finally:
        engine.dispose()
    for job_id, headers in [(big[0], busy), (big[1], busy), (small, waiting)]:
        job = pg_client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        assert job["status"] == "done" and job["done"] == job["total"]
    assert len(owners) == 13
    # The one-image job ran in the second turn: after the first big job's first two files and
    # before the second big job, queued earlier (its owner had a job unfinished: lower priority).
    assert [i for i, owner in enumerate(owners) if owners.count(owner) == 1] == [2], owners


def test_a_job_is_deleted_with_the_files_no_analysis_keeps(pg_client, pg_settings):
    """Before, a job's stored files stayed for ever, whatever became of them."""
    from artifact.storage.tables import BatchJob

    headers = register(pg_client, "tidy")
    queued = submit(pg_client, headers, 2, broken=True).json()["id"]
    assert len(stored_files(pg_settings)) == 3
    assert pg_client.delete(f"/v1/jobs/{queued}", headers=headers).status_code == 204
    assert stored_files(pg_settings) == []  # nothing analysed yet: every file goes
    assert_error(pg_client.get(f"/v1/jobs/{queued}", headers=headers), 404)

    done = submit(pg_client, headers, 2, broken=True).json()["id"]
    engine, context = worker_parts(pg_settings)
    try:
        drain_queue(pg_settings, context)
    finally:
        engine.dispose()
    assert_error(pg_client.delete(f"/v1/jobs/{done}", headers=register(pg_client, "stranger")), 404)
    assert pg_client.delete(f"/v1/jobs/{done}", headers=headers).status_code == 204
    # The two analysed images stay with their analyses; the broken file, which none keeps, goes.
    assert len(stored_files(pg_settings)) == 2
    assert pg_client.get("/v1/analyses", headers=headers).json()["count"] == 2
    running = submit(pg_client, headers, 1, broken=False).json()["id"]
    with pg_client.app.state.writer_sessions.begin() as session:
        session.get(BatchJob, running).status = "running"
    assert_error(pg_client.delete(f"/v1/jobs/{running}", headers=headers), 409, "job_running")


def test_an_idempotency_key_makes_a_retried_job_count_once(pg_client, pg_settings):
    from artifact.storage.tables import BatchJob

    headers = {**register(pg_client, "job-retrier"), "Idempotency-Key": "job-1"}
    files = [("files", (f"k{i}.png", image_bytes("ai", seed=300 + i))) for i in range(2)]
    first = pg_client.post("/v1/jobs", files=files, headers=headers)
    assert first.status_code == 202
    again = pg_client.post("/v1/jobs", files=files, headers=headers)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    other = pg_client.post("/v1/jobs", files=files[:1], headers=headers)
    assert assert_error(other, 422)["message"] == "this Idempotency-Key was already used for other files"
    with pg_client.app.state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(BatchJob)) == 1


def test_a_job_past_the_storage_quota_is_refused_and_leaves_nothing(pg_settings):
    import numpy as np
    from fastapi.testclient import TestClient
    from PIL import Image

    from artifact.api.app import create_app

    rng = np.random.default_rng(3)
    noise = []
    for _ in range(3):
        buffer = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(buffer, "PNG")
        noise.append(buffer.getvalue())  # ~360 KB each: three pass a 1 MB quota
    settings = pg_settings.model_copy(update={"storage_quota_mb": 1})
    with TestClient(create_app(settings)) as client:
        headers = register(client, "bulk")
        files = [("files", (f"n{i}.png", data)) for i, data in enumerate(noise)]
        error = assert_error(client.post("/v1/jobs", files=files, headers=headers), 403, "quota_exceeded")
        assert "quota" in error["message"]
        assert stored_files(settings) == []
        assert client.post("/v1/jobs", files=files[:2], headers=headers).status_code == 202
        # The job's waiting files count: one more image no longer fits.
        assert_error(client.post("/v1/jobs", files=files[2:], headers=headers), 403, "quota_exceeded")


def test_the_reaper_queues_a_job_whose_deferral_was_lost(pg_client, pg_settings, monkeypatch):
    import time

    from artifact.jobs import queue

    monkeypatch.setattr(queue, "defer", lambda app, job_id, sessions=None: None)  # the replica died before deferring
    headers = register(pg_client, "unlucky")
    job_id = submit(pg_client, headers, 2, broken=False).json()["id"]
    engine, context = worker_parts(pg_settings)
    try:
        drain_queue(pg_settings, context)
        assert pg_client.get(f"/v1/jobs/{job_id}", headers=headers).json()["status"] == "queued"  # lost

        time.sleep(pg_settings.worker_stalled_seconds + 0.5)
        app = queue.make_queue(pg_settings.resolved_database_url)

        async def reap() -> int:
            async with app.open_async():
                return await queue.reap(app, context.sessions, pg_settings.worker_stalled_seconds)

        assert asyncio.run(reap()) == 1
        drain_queue(pg_settings, context)
    finally:
        engine.dispose()
    job = pg_client.get(f"/v1/jobs/{job_id}", headers=headers).json()
    assert job["status"] == "done" and job["done"] == 2


def test_the_reaper_gives_up_on_a_job_that_failed_every_attempt(pg_client, pg_settings, monkeypatch):
    import time

    from artifact.jobs import queue
    from artifact.storage.tables import BatchJob

    monkeypatch.setattr(queue, "defer", lambda app, job_id, sessions=None: None)  # nothing queued
    headers = register(pg_client, "doomed")
    job_id = submit(pg_client, headers, 1, broken=False).json()["id"]
    with pg_client.app.state.writer_sessions.begin() as session:
        session.get(BatchJob, job_id).attempts = queue.MAX_ATTEMPTS
    time.sleep(pg_settings.worker_stalled_seconds + 0.5)
    app = queue.make_queue(pg_settings.resolved_database_url)
    engine, context = worker_parts(pg_settings)
    try:

        async def reap() -> int:
            async with app.open_async():
                return await queue.reap(app, context.sessions, pg_settings.worker_stalled_seconds)

        assert asyncio.run(reap()) == 0  # not queued again...
    finally:
        engine.dispose()
    job = pg_client.get(f"/v1/jobs/{job_id}", headers=headers).json()
    assert job["status"] == "failed" and job["finished_at"]  # ...but marked failed, with a time


def test_a_job_over_the_limits_is_refused_and_leaves_nothing(pg_client, pg_settings):
    from artifact.storage.tables import BatchJob

    headers = register(pg_client, "greedy")
    response = submit(pg_client, headers, 21, broken=False)  # job_max_files is 20
    assert_error(response, 400, "too_many_files")
    stored = [p for p in pg_settings.images_dir.rglob("*") if p.is_file()]
    assert stored == []  # the 20 files it had stored were removed again
    with pg_client.app.state.sessions() as session:
        assert session.scalar(select(func.count()).select_from(BatchJob)) == 0
    bomb = zip_of({"bomb.png": b"\0" * (64 * 1024 * 1024)})
    response = pg_client.post("/v1/jobs", files=[("files", ("bomb.zip", bomb))], headers=headers)
    assert_error(response, 413, "payload_too_large")
    assert pg_client.get("/healthz").status_code == 200


def test_the_worker_refuses_sqlite_with_the_reason(tmp_path, monkeypatch, capsys):
    from artifact.cli import main

    monkeypatch.delenv("ARTIFACT_DATABASE_URL", raising=False)
    assert main(["worker", "--data-dir", str(tmp_path)]) != 0
    assert "PostgreSQL" in capsys.readouterr().err
