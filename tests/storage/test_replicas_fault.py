"""Two `artifact serve` replicas and one `artifact worker` over one PostgreSQL and one S3 bucket
(the emulator), with kill -9 of a replica and of the worker in the middle of the traffic."""

from __future__ import annotations

import threading
import time
from collections import Counter

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.support.api import image_bytes
from tests.support.servers import Server, Worker
from tests.support.shared import s3_keys

pytestmark = pytest.mark.slow
pytest.importorskip("procrastinate", reason="the cluster extra is not installed")


def test_replicas_and_a_worker_lose_nothing_when_killed(
    tmp_path, artbench_run, postgres_url, s3_endpoint, s3_bucket
):
    env = {
        "ARTIFACT_DATABASE_URL": postgres_url,
        "ARTIFACT_STORAGE_URL": f"s3://{s3_bucket}/images",
        "ARTIFACT_STORAGE_ENDPOINT": s3_endpoint,
        "ARTIFACT_ORPHAN_MIN_AGE_SECONDS": "2",
        "ARTIFACT_WORKER_STALLED_SECONDS": "3",
        "ARTIFACT_WORKER_HEARTBEAT_SECONDS": "0.5",
    }
    replicas = [Server(tmp_path / f"replica-{i}" / "data", artbench_run, env=env) for i in range(2)]
    starting = [threading.Thread(target=replica.start) for replica in replicas]  # at once: one migrates
    for thread in starting:
        thread.start()
    for thread in starting:
        thread.join()
    a, b = replicas
    worker = Worker(tmp_path / "worker", artbench_run, env).start()
    try:
        body = {"username": "jury", "email": "jury@example.org", "password": "correct horse"}
        assert httpx.post(f"{a.url}/v1/auth/register", json=body).status_code == 201
        token = httpx.post(f"{b.url}/v1/auth/login", json=body).json()["access_token"]  # one key for all
        headers = {"Authorization": f"Bearer {token}"}

        # A job of 40 files, large enough that the worker is still busy when it is killed.
        job_files = [("files", (f"job-{i}.png", image_bytes("ai" if i % 2 else "human", 640, "PNG", seed=i)))
                     for i in range(40)]  # fmt: skip
        submitted = httpx.post(f"{a.url}/v1/jobs", files=job_files, headers=headers, timeout=60)
        assert submitted.status_code == 202, submitted.text
        job_url = f"{a.url}{submitted.json()['url']}"

        # 60 uploads, alternating between the replicas, four at a time.
        created: dict[str, int] = {}  # filename -> analysis id, for every 201
        sent = Counter()

        def uploads(offset: int) -> None:
            for i in range(offset, 60, 4):
                replica = replicas[i % 2]
                files = {"file": (f"upload-{i}.jpg", image_bytes("ai", 96, seed=1000 + i))}
                sent["sent"] += 1
                try:
                    response = httpx.post(
                        f"{replica.url}/v1/analyze", files=files, headers=headers, timeout=30
                    )
                except httpx.HTTPError:
                    continue  # that replica is dead: the client would retry elsewhere
                if response.status_code == 201:
                    created[f"upload-{i}.jpg"] = response.json()["id"]

        clients = [threading.Thread(target=uploads, args=(k,)) for k in range(4)]
        for thread in clients:
            thread.start()
        killed_b = killed_worker = False
        deadline = time.monotonic() + 180
        while not (killed_b and killed_worker):
            assert time.monotonic() < deadline, "never reached the moment to kill"
            if not killed_b and sent["sent"] >= 24:
                b.kill()
                killed_b = True
            if not killed_worker and httpx.get(job_url, headers=headers).json()["done"] >= 3:
                worker.kill()
                killed_worker = True
            time.sleep(0.05)
        progress_at_kill = httpx.get(job_url, headers=headers).json()["done"]
        assert progress_at_kill < 40, "the worker finished before it could be killed"
        worker = Worker(tmp_path / "worker", artbench_run, env).start()  # its stalled job is reaped
        for thread in clients:
            thread.join()

        while (job := httpx.get(job_url, headers=headers).json())["status"] != "done":
            assert time.monotonic() < deadline, f"the job never finished: {job['done']}/40"
            time.sleep(0.5)

        # As a replica killed between its PUT and its commit leaves it (if the kill above did not).
        import hashlib

        import boto3

        from tests.support.shared import _boto_credentials

        orphan = hashlib.sha256(b"never committed").hexdigest()
        boto3.client("s3", endpoint_url=s3_endpoint, **_boto_credentials()).put_object(
            Bucket=s3_bucket, Key=f"images/{orphan[:2]}/{orphan[2:4]}/{orphan}", Body=b"never committed"
        )
        time.sleep(2.5)  # past the orphan age: what the killed replica left is now fair game
        b.start()  # its start-up sweep removes objects whose upload never committed
    finally:
        worker.stop()
        for replica in replicas:
            replica.stop()

    assert len(created) >= 30  # most uploads got through despite the dead replica
    engine = create_engine(postgres_url)
    with engine.connect() as connection:
        counts = dict(
            connection.execute(text("SELECT filename, count(*) FROM analyses GROUP BY filename")).all()
        )
        stored = set(connection.execute(text("SELECT sha256 FROM images")).scalars())
        stored |= set(connection.execute(text("SELECT image_sha256 FROM batch_job_files")).scalars())
    engine.dispose()
    # Every upload that got a 201 is there exactly once; nothing at all is there twice.
    assert all(counts.get(name) == 1 for name in created), {n: counts.get(n) for n in created}
    assert set(counts.values()) == {1}
    # The job: 40 results, each a distinct analysis, none twice in the history.
    assert job["done"] == 40 and job["failed"] == 0
    assert len({item["analysis"]["id"] for item in job["results"]}) == 40
    assert sum(1 for name in counts if name.startswith("job-")) == 40
    # No orphan objects: the bucket holds exactly what the rows reference.
    objects = {key.rsplit("/", 1)[-1] for key in s3_keys(s3_endpoint, s3_bucket, "images/")}
    assert objects == stored and orphan not in objects
