"""Real processes: ``artifact serve`` and ``artifact worker`` as subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``artifact serve`` in a subprocess; restartable on the same data directory."""

    def __init__(self, data_dir: Path, model_dir: Path, workers: int = 1, env: dict[str, str] | None = None):
        self.data_dir, self.model_dir, self.workers = data_dir, model_dir, workers
        self.extra_env = env or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> Server:
        env = {**os.environ, "ARTIFACT_SECRET_KEY": "server-test-secret-key-0123456789abcdef",
               "ARTIFACT_RATE_LIMIT_PER_MINUTE": "10000", "ARTIFACT_LOGIN_ATTEMPTS_PER_MINUTE": "1000",
               **self.extra_env}  # fmt: skip
        command = [sys.executable, "-m", "artifact", "serve", "--port", str(self.port),
                   "--data-dir", str(self.data_dir), "--model", str(self.model_dir),
                   "--workers", str(self.workers)]  # fmt: skip
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(self.data_dir.parent / f"server-{self.port}.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(command, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.read_log()
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("server did not become ready:\n" + self.read_log())

    def kill(self) -> None:
        """kill -9: no shutdown, no clean-up, whatever it was doing."""
        self.process.kill()
        self.process.wait()
        self.log.close()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def read_log(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-4000:]


class Worker:
    def __init__(self, data_dir: Path, model_dir: Path, env: dict[str, str]):
        self.data_dir, self.model_dir, self.env = data_dir, model_dir, env
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "worker.log", "ab")  # noqa: SIM115 - the process owns it
        command = [sys.executable, "-m", "artifact", "worker", "--data-dir", str(self.data_dir),
                   "--model", str(self.model_dir)]  # fmt: skip
        self.process = subprocess.Popen(
            command, env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT
        )
        return self

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
