"""Load on ``POST /v1/analyze`` of a real local server: 1, 4 and 16 concurrent clients.

Usage: python benchmarks/api_load.py [--model models/default] [--requests 120] [--workers 1]

Starts ``artifact serve`` on a free loopback port with a fresh data directory, then for each
concurrency level sends the same number of uploads (distinct images) and prints requests per
second and p50/p95/p99 latency. Loopback only; bounded in count and time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from tests.api_helpers import image_bytes  # noqa: E402
from tests.test_server_process import Server  # noqa: E402


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="models/default")
    parser.add_argument("--requests", type=int, default=120)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--size", type=int, default=512, help="side of the uploaded JPEGs")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp()) / "data"
    server = Server(data_dir, Path(args.model).resolve(), workers=args.workers).start()
    try:
        body = {"username": "bench", "email": "bench@example.org", "password": "benchmark pw"}
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
    finally:
        server.stop()


if __name__ == "__main__":
    main()
