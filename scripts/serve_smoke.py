"""CI's serve-only smoke test: the README's first command, as a newcomer meets it.

usage: VENV/bin/python scripts/serve_smoke.py VENV

Starts ``VENV/bin/artifact serve`` (a venv with only ``.[serve]`` installed) on a free port and
a fresh data folder, waits for /readyz, registers, analyses one image, and submits a batch job,
which must be answered with the documented 503 ``jobs_unavailable`` (not 500). Standard library
only, so nothing beyond the serve install is needed. Exits non-zero on any failure.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from PIL import Image


def main() -> int:
    venv = Path(sys.argv[1])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(
            [str(venv / "bin" / "artifact"), "serve", "--port", str(port), "--data-dir", data],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            _wait_ready(base, server)
            _call(base, "/v1/auth/register", {"username": "smoke", "email": "smoke@example.org",
                                              "password": "Velvet-Harbor-4417"})  # fmt: skip
            token = _call(base, "/v1/auth/login", {"username": "smoke", "password": "Velvet-Harbor-4417"})
            auth = {"Authorization": f"Bearer {token['access_token']}"}
            buffer = io.BytesIO()
            Image.new("RGB", (64, 64), (120, 80, 40)).save(buffer, "PNG")
            analysis = _upload(base, "/v1/analyze", "file", buffer.getvalue(), auth, expect=201)
            assert analysis["verdict"] in ("ai", "human", "uncertain") and analysis["cut_points"], analysis
            job = _upload(base, "/v1/jobs", "files", buffer.getvalue(), auth, expect=503)
            assert job["error"]["code"] == "jobs_unavailable", job
            print(
                f"serve-only smoke: ready, analysed ({analysis['verdict']}), batch job 503 jobs_unavailable"
            )
            return 0
        finally:
            server.terminate()
            output, _ = server.communicate(timeout=20)
            if server.returncode not in (0, -15):
                print(output)


def _wait_ready(base: str, server: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"artifact serve exited: {server.stdout.read()}")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    raise SystemExit("artifact serve never became ready")


def _call(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"{}")


def _upload(base: str, path: str, field: str, data: bytes, headers: dict, expect: int) -> dict:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="smoke.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        base + path,
        data=body,
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, payload = error.code, error.read()
    if status != expect:
        raise SystemExit(f"{path} answered {status}, expected {expect}: {payload[:300]!r}")
    return json.loads(payload)


if __name__ == "__main__":
    sys.exit(main())
