"""Real server processes for tests: `python -m app` on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.redis_server import free_port

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """`python -m app` in a subprocess, up once /healthz answers."""

    def __init__(self, log_level: str = "warning", **env: str) -> None:
        self.port = free_port()
        self.log_level = log_level
        self.env = {**os.environ, "TRACKER_ADMIN_KEY": "test-admin-key",
                    "TRACKER_SECRET": "test-secret", "TRACKER_DEMO_SHOP": "1", **env}
        self._log = Path(tempfile.mkstemp(prefix="tracker-server-", suffix=".log")[1])
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerProcess:
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "app", "--port", str(self.port), "--log-level",
                 self.log_level],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"server did not start:\n{self._log.read_text()}")

    def signal(self, signum: int) -> None:
        assert self._process is not None
        self._process.send_signal(signum)

    def wait(self, timeout: float) -> int:
        """The process's exit code, once it has exited (TimeoutExpired after `timeout` s)."""
        assert self._process is not None
        return self._process.wait(timeout=timeout)

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None

    @property
    def output(self) -> str:
        return self._log.read_text()
