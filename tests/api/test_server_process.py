"""The real server: ``artifact serve`` as a subprocess on a free loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.api import image_bytes
from tests.support.servers import Server

pytestmark = pytest.mark.slow


@pytest.fixture
def server_dirs(tmp_path, artbench_run):
    return tmp_path / "data", artbench_run


def register(base: str, username: str) -> dict[str, str]:
    body = {"username": username, "email": f"{username}@example.org", "password": "correct horse"}
    assert httpx.post(f"{base}/v1/auth/register", json=body).status_code == 201
    token = httpx.post(f"{base}/v1/auth/login", json=body).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def test_everything_survives_a_restart(server_dirs):
    server = Server(*server_dirs).start()
    try:
        headers = register(server.url, "ann")
        files = {"file": ("dawn.jpg", image_bytes(), "image/jpeg")}
        artwork = httpx.post(f"{server.url}/v1/artworks", files=files, data={"title": "Dawn", "artist": "Ann"},
                             headers=headers).json()  # fmt: skip
        analysed = httpx.post(f"{server.url}/v1/analyze", files={"file": ("x.png", image_bytes(fmt="PNG"))},
                              headers=headers).json()  # fmt: skip
    finally:
        server.stop()
    assert (server_dirs[0] / "artifact.db").is_file()
    server.start()
    try:
        # The token was signed with the configured key: still valid after the restart.
        listed = httpx.get(f"{server.url}/v1/artworks", headers=headers).json()
        assert listed["count"] == 1 and listed["data"][0]["title"] == "Dawn"
        history = httpx.get(f"{server.url}/v1/analyses", headers=headers).json()
        assert {a["id"] for a in history["data"]} == {artwork["analysis"]["id"], analysed["id"]}
        image = httpx.get(f"{server.url}{artwork['image_url']}", headers=headers)
        assert image.status_code == 200 and len(image.content) > 100
    finally:
        server.stop()


def test_fifty_parallel_uploads_are_each_stored_once(server_dirs):
    server = Server(*server_dirs, workers=2).start()
    try:
        headers = register(server.url, "ann")
        payloads = [image_bytes(seed=10_000 + i) for i in range(50)]

        def send(data: bytes) -> httpx.Response:
            with httpx.Client(timeout=60) as client:
                return client.post(
                    f"{server.url}/v1/analyze", files={"file": ("a.jpg", data)}, headers=headers
                )

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(send, payloads))
        assert [r.status_code for r in responses] == [201] * 50, [
            r.text for r in responses if r.status_code != 201
        ]
        history = httpx.get(f"{server.url}/v1/analyses?limit=200", headers=headers).json()
        assert history["count"] == 50
        assert len({a["id"] for a in history["data"]}) == 50
        assert len({a["image_sha256"] for a in history["data"]}) == 50
        files = [p for p in (server_dirs[0] / "images").rglob("*") if p.is_file()]
        assert len(files) == 50
        assert "database is locked" not in server.read_log()
    finally:
        server.stop()


# ARTIFACT_LONG_FUZZ=1: the opt-in long run (every phase, stateful sequences included).
LONG_FUZZ = os.environ.get("ARTIFACT_LONG_FUZZ", "") not in ("", "0")


@pytest.mark.skipif(shutil.which("schemathesis") is None and not Path(sys.executable).with_name("schemathesis").exists(),
                    reason="schemathesis is not installed")  # fmt: skip
def test_schemathesis_smoke_finds_no_server_error(server_dirs):
    """A smoke test (10 examples per operation, 45 s), not a fuzz campaign: ARTIFACT_LONG_FUZZ=1
    runs 200 examples per operation for up to 10 minutes, with the stateful phase."""
    server = Server(*server_dirs).start()
    try:
        headers = register(server.url, "fuzzer")
        cli = str(Path(sys.executable).with_name("schemathesis"))
        budget = ["--max-examples", "200", "--max-time", "600", "--phases", "examples,coverage,fuzzing,stateful"] \
            if LONG_FUZZ else ["--max-examples", "10", "--max-time", "45"]  # fmt: skip
        command = [cli, "run", f"{server.url}/openapi.json", "--checks", "not_a_server_error", *budget,
                   "--request-timeout", "10", "--seed", "1",
                   "-H", f"Authorization: {headers['Authorization']}"]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, timeout=900 if LONG_FUZZ else 240)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "Traceback" not in server.read_log()
    finally:
        server.stop()


def test_a_client_that_sends_everything_first_still_reads_the_413(server_dirs):
    """``urllib`` writes the whole 100 MB body before it reads: it must get the JSON answer, not
    a connection reset: 413 for a declared length (before authentication) and for a chunked
    body, 401 for an unauthenticated chunked one; the server goes on serving."""
    import json
    import urllib.error
    import urllib.request

    server = Server(*server_dirs).start()
    try:
        headers = register(server.url, "sender")
        body = b"x" * (100 * 1024 * 1024)

        def chunks(prefix: bytes = b""):
            if prefix:  # an empty chunk would end a chunked body
                yield prefix
            yield from (body[i : i + (1 << 20)] for i in range(0, len(body), 1 << 20))

        part = b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'

        chunked = {"Transfer-Encoding": "chunked"}
        for data, extra, status, code in (
            (body, {}, 413, "file_too_large"),
            (chunks(), chunked, 401, "unauthorized"),
            (
                chunks(part),
                {**chunked, **headers, "Content-Type": "multipart/form-data; boundary=b"},
                413,
                "file_too_large",
            ),
        ):
            request = urllib.request.Request(
                f"{server.url}/v1/analyze", data=data, method="POST",
                headers={"Content-Type": "application/octet-stream", **extra},
            )  # fmt: skip
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(request, timeout=60)
            assert caught.value.code == status
            assert json.loads(caught.value.read())["error"]["code"] == code
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()


def test_an_oversized_header_is_refused_and_the_server_keeps_serving(server_dirs):
    """One unauthenticated 1 MB header (the limit is 64 KB) is cut off at once."""
    import socket

    server = Server(*server_dirs).start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
            raw.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n")
            answer = raw.recv(200)
        assert answer.startswith(b"HTTP/1.1 4"), answer  # 431 or 400, never a stall
        started = time.monotonic()
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 2
    finally:
        server.stop()


def test_an_anonymous_upload_is_refused_before_its_body_is_read(server_dirs):
    """Headers announcing a 380 MB batch (within the batch limit) and 1 MB of it, no credentials:
    the 401 comes back while the client still holds the rest, and nothing was spooled."""
    import socket
    import tempfile

    server = Server(*server_dirs).start()
    spool = Path(tempfile.gettempdir())
    before = {p.name for p in spool.iterdir()}
    try:
        head = (b"POST /v1/analyze/batch HTTP/1.1\r\nHost: x\r\nContent-Length: 398458880\r\n"
                b"Content-Type: multipart/form-data; boundary=b\r\n\r\n")  # fmt: skip
        part = b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.jpg"\r\n\r\n'
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", server.port), timeout=20) as raw:
            raw.sendall(head + part + b"x" * (1 << 20))
            answer = raw.recv(4096)
            while b"}" not in answer.partition(b"\r\n\r\n")[2]:  # the body may come in its own segment
                more = raw.recv(4096)
                if not more:
                    break
                answer += more
        assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
        assert b'"code":"unauthorized"' in answer
        assert time.monotonic() - started < 10
        assert httpx.get(f"{server.url}/healthz").status_code == 200
    finally:
        server.stop()
    spooled = [
        p for p in spool.iterdir() if p.name not in before and p.is_file() and p.stat().st_size > 1 << 20
    ]
    assert not spooled


def test_a_slow_uploader_cannot_hold_shutdown_open(server_dirs, monkeypatch):
    """SIGTERM while a client trickles an upload: the server exits within its grace period."""
    import socket

    monkeypatch.setenv("ARTIFACT_GRACEFUL_SHUTDOWN_SECONDS", "2")
    server = Server(*server_dirs).start()
    headers = register(server.url, "slowpoke")
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
        raw.sendall(
            b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            + f"Authorization: {headers['Authorization']}\r\n\r\n".encode()
            + b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        )
        time.sleep(0.5)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=20)
        assert time.monotonic() - started < 8
    server.log.close()


def test_an_in_flight_upload_finishes_after_sigterm(server_dirs, monkeypatch):
    """README: in-flight requests get GRACEFUL_SHUTDOWN_SECONDS after SIGTERM. An upload whose
    body is still arriving when the signal comes is answered 201 and recorded."""
    import socket

    monkeypatch.setenv("ARTIFACT_GRACEFUL_SHUTDOWN_SECONDS", "20")
    server = Server(*server_dirs).start()
    headers = register(server.url, "in-flight")
    data = image_bytes(size=96, fmt="PNG")
    head = b'--b\r\nContent-Disposition: form-data; name="file"; filename="late.png"\r\n\r\n'
    body = head + data + b"\r\n--b--\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
        raw.sendall(
            b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=b\r\n"
            + f"Authorization: {headers['Authorization']}\r\n\r\n".encode()
            + body[:100]
        )
        time.sleep(0.5)
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        raw.sendall(body[100:])  # the rest arrives after the signal
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
    server.process.wait(timeout=30)
    server.log.close()
    server.start()  # and the analysis was recorded
    try:
        assert httpx.get(f"{server.url}/v1/analyses", headers=headers).json()["count"] == 1
    finally:
        server.stop()


@pytest.mark.parametrize(
    "extra, env",
    [(["--workers", "2"], {}), ([], {"ARTIFACT_STORAGE_URL": "s3://shared-bucket/artifact"})],
)
def test_serve_refuses_several_processes_with_a_per_node_key(tmp_path, monkeypatch, capsys, extra, env):
    from artifact.cli import main

    monkeypatch.delenv("ARTIFACT_SECRET_KEY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["serve", "--data-dir", str(tmp_path), *extra]) == 2
    assert "ARTIFACT_SECRET_KEY" in capsys.readouterr().err
    assert not (tmp_path / "secret.key").exists()


def test_half_open_connections_are_cut_off_and_capped_per_address(artbench_run, tmp_path):
    """300 sockets holding an incomplete head made every other request 503 until they closed;
    a body trickled at 200 B/s stayed open as long as the client liked."""
    server = Server(tmp_path / "svc", artbench_run, env={
        "ARTIFACT_HEAD_TIMEOUT_SECONDS": "1.5", "ARTIFACT_MAX_CONNECTIONS_PER_ADDRESS": "4",
        "ARTIFACT_BODY_MIN_BYTES_PER_SECOND": "5000"}).start()  # fmt: skip
    try:
        idle = []
        for _ in range(4):
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finished
            idle.append(sock)
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", server.port))
        extra.settimeout(5)
        assert extra.recv(100).startswith(b"HTTP/1.1 503")  # the fifth from one address
        extra.close()
        started = time.monotonic()
        for sock in idle:
            sock.settimeout(5)
            assert sock.recv(100).startswith(b"HTTP/1.1 408")
            sock.close()
        assert time.monotonic() - started < 3
        # A body trickled far below the minimum rate is cut off within one check window.
        trickle = socket.create_connection(("127.0.0.1", server.port))
        trickle.sendall(b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 100000\r\n\r\n{")  # fmt: skip
        trickle.settimeout(0.5)
        cut, started = False, time.monotonic()
        while time.monotonic() - started < 12:
            try:
                trickle.sendall(b" " * 20)
                if trickle.recv(100) == b"":
                    cut = True
                    break
            except TimeoutError:
                continue
            except OSError:
                cut = True
                break
        assert cut and time.monotonic() - started < 12
        trickle.close()
        # And the server keeps serving everyone else.
        assert httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200
    finally:
        server.stop()


def test_connections_past_max_connections_get_503_until_one_closes(artbench_run, tmp_path):
    """MAX_CONNECTIONS bounds a worker's open connections: the next request is answered 503
    (not queued, not dropped), and once a connection closes requests are served again."""
    server = Server(tmp_path / "svc", artbench_run, env={
        "ARTIFACT_MAX_CONNECTIONS": "3", "ARTIFACT_MAX_CONNECTIONS_PER_ADDRESS": "100",
        "ARTIFACT_KEEP_ALIVE_SECONDS": "60"}).start()  # fmt: skip
    try:
        held = []
        for _ in range(3):  # keep-alive connections, each idle after one request
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.settimeout(5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            held.append((sock, sock.recv(200)))
        statuses = [reply.split(b"\r\n", 1)[0] for _, reply in held]
        time.sleep(0.2)
        over = httpx.get(f"{server.url}/healthz", timeout=5)
        for sock, _ in held[1:]:
            sock.close()
        time.sleep(0.5)
        after = httpx.get(f"{server.url}/healthz", timeout=5)
        held[0][0].close()
    finally:
        server.stop()
    # uvicorn counts the asking connection too: with 3 allowed, a third open connection is refused.
    assert statuses == [b"HTTP/1.1 200 OK", b"HTTP/1.1 200 OK", b"HTTP/1.1 503 Service Unavailable"]
    assert over.status_code == 503
    assert after.status_code == 200
