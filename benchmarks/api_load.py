"""Where the time of one analysis goes, then load on ``POST /v1/analyze`` of a real local server.

Usage: python benchmarks/api_load.py [--model DIR] [--requests 120] [--workers 1]

First, in this process and for the same image: Pillow decode alone, the model alone,
provenance alone, and the whole analyse path without HTTP (ratio to the stages' sum). Then
starts ``artifact serve`` on a free loopback port with a fresh data directory, then for each
concurrency level sends the same number of uploads (distinct images) and prints requests per
second and p50/p95/p99 latency, and at 16 clients the share of the throughput that the
measured per-request CPU time allows on this machine's cores. Loopback only; bounded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from tests.support.api import image_bytes  # noqa: E402
from tests.support.servers import Server  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def median_ms(fn, repeats: int = 30) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def in_process_breakdown(predictor, size: int) -> float:
    """Each stage of the analyse path alone, then the whole path without HTTP; returns the
    whole path's seconds per image (CPU-bound, so the per-request CPU cost)."""
    import hashlib

    from sqlalchemy.orm import sessionmaker

    from artifact.inference.decode import decode_upload
    from artifact.provenance import collect_evidence
    from artifact.service import analyse_image
    from artifact.storage.database import create_db_engine, migrate
    from artifact.storage.image_store import LocalImageStore
    from artifact.storage.tables import User

    data = image_bytes(size=size, seed=12345)
    image = decode_upload(data).image
    digest = hashlib.sha256(data).hexdigest()
    stages = {
        "Pillow decode": median_ms(lambda: decode_upload(data)),
        "model (canonicalise + LiteRT)": median_ms(lambda: predictor.predict_images([image], [digest])),
        "provenance (metadata, watermark, C2PA)": median_ms(lambda: collect_evidence(data, image=image)),
    }
    folder = Path(tempfile.mkdtemp())
    engine = create_db_engine(f"sqlite:///{folder / 'bench.db'}", writer=True)
    migrate(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)
    with sessions.begin() as session:
        user = User(username="bench", email="b@example.org", password_hash="x")
        session.add(user)
    store = LocalImageStore(folder / "images")
    payloads = iter([image_bytes(size=size, seed=1000 + i) for i in range(64)])

    def whole() -> None:
        from artifact.inference.decode import DEFAULT_LIMITS

        analyse_image(next(payloads), filename="a.jpg", user_id=user.id, predictor=predictor,
                      sessions=sessions, store=store, limits=DEFAULT_LIMITS)  # fmt: skip

    total = median_ms(whole, repeats=40)
    parts = sum(stages.values())
    print(f"in process, one {size} px JPEG (median ms):")
    for name, ms in stages.items():
        print(f"  {name:42s}{ms:8.1f}")
    print(f"  {'sum of the stages':42s}{parts:8.1f}")
    print(
        f"  {'whole analyse path (incl. store + row)':42s}{total:8.1f}   ratio to the sum {total / parts:.2f}x"
    )
    return total / 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="model directory (default: the bundled model)")
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--size", type=int, default=512, help="side of the uploaded JPEGs")
    args = parser.parse_args()

    from artifact.inference.engine import Predictor, resolve_model_dir

    model_dir = resolve_model_dir(args.model)
    per_request_s = in_process_breakdown(Predictor(model_dir), args.size)
    data_dir = Path(tempfile.mkdtemp()) / "data"
    server = Server(data_dir, model_dir, workers=args.workers).start()
    try:
        body = {"username": "bench", "email": "bench@example.org", "password": "load test phrase"}
        httpx.post(f"{server.url}/v1/auth/register", json=body)
        token = httpx.post(f"{server.url}/v1/auth/login", json=body).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        payloads = [image_bytes(size=args.size, seed=i) for i in range(args.requests)]
        print(
            f"server workers {args.workers}; {args.requests} uploads of {args.size} px JPEG per level "
            f"(~{statistics.mean(map(len, payloads)) / 1024:.0f} KiB)"
        )
        print(f"{'clients':>8}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}{'errors':>8}")
        for clients in (1, 4, 16):
            with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=clients)) as client:

                def send(data: bytes, client: httpx.Client = client) -> tuple[float, bool]:
                    start = time.perf_counter()
                    response = client.post(
                        f"{server.url}/v1/analyze", files={"file": ("a.jpg", data)}, headers=headers
                    )
                    return time.perf_counter() - start, response.status_code == 201

                started = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    results = list(pool.map(send, payloads))
                elapsed = time.perf_counter() - started
            ms = [latency * 1000 for latency, _ in results]
            errors = sum(1 for _, ok in results if not ok)
            print(
                f"{clients:>8}{len(ms) / elapsed:>10.1f}{percentile(ms, 0.5):>10.1f}{percentile(ms, 0.95):>10.1f}"
                f"{percentile(ms, 0.99):>10.1f}{errors:>8}"
            )
            if clients == 16:
                cores = os.cpu_count() or 1
                ceiling = cores / per_request_s
                print(
                    f"16 clients: {len(ms) / elapsed:.1f} req/s = {len(ms) / elapsed / ceiling:.2f} of the "
                    f"{ceiling:.1f} req/s that {cores} cores allow at {per_request_s * 1000:.1f} ms CPU per request"
                )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
