"""What every benchmark shares: settings, child processes, statistics and result rows."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.redis import free_port

ROOT = Path(__file__).resolve().parent.parent
ADMIN_KEY = "bench-admin-key"
SECRET = "bench-secret"
SHOP_ID = 1
SOURCE_ID = "site"
HUGE = "1000000000"

def server_env(redis_url: str = "memory://", **extra: str) -> dict[str, str]:
    """The environment of a bench server: embedded store, demo shop 1, no rate limits.

    The tracker's rate limits (per client address and per visitor) exist to stop
    abuse; a load generator on one address would only measure them, so they are
    lifted here.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update({
        "TRACKER_MONGODB_URL": "mongomock://",
        "TRACKER_REDIS_URL": redis_url,
        "TRACKER_ADMIN_KEY": ADMIN_KEY,
        "TRACKER_SECRET": SECRET,
        "TRACKER_DEMO_SHOP": "1",
        "TRACKER_RATE_PER_IP": HUGE,
        "TRACKER_BURST_PER_IP": HUGE,
        "TRACKER_RATE_PER_VISITOR": HUGE,
        "TRACKER_BURST_PER_VISITOR": HUGE,
        "TRACKER_RATE_PER_KEY": HUGE,
        "TRACKER_BURST_PER_KEY": HUGE,
        "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
    })
    env.update(extra)
    return env


# -- child processes -------------------------------------------------------------------


class ServerProcess:
    """A bench server (`python -m bench.server`) in a child process on a free port."""

    def __init__(self, kind: str = "graphql", *, preload: int = 0,
                 redis_url: str = "memory://", root: Path | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.kind = kind
        self.env = env or {}  # more of the server's settings (TRACKER_...)
        self.root = root or ROOT  # another checkout: the code before a change, side by side
        self.preload = preload
        self.redis_url = redis_url
        self._began = 0.0
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        fd, name = tempfile.mkstemp(prefix=f"bench-{kind.replace(':', '-')}-", suffix=".log")
        self._log = os.fdopen(fd, "wb")
        self._log_path = Path(name)
        self.startup_seconds = 0.0

    @property
    def target(self) -> str:
        """What the load generator talks to: graphql or bare."""
        return self.kind.partition(":")[0]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    def launch(self) -> ServerProcess:
        """Start the process; `wait_ready` waits until it serves."""
        cmd = [sys.executable, "-m", "bench.server", "--app", self.kind,
               "--port", str(self.port), "--preload", str(self.preload)]
        self._began = time.monotonic()
        env = server_env(self.redis_url, **self.env)
        if self.root != ROOT:
            env["PYTHONPATH"] = str(self.root) + os.pathsep + os.environ.get("PYTHONPATH", "")
        self.process = subprocess.Popen(cmd, cwd=self.root, env=env,
                                        stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 300.0) -> ServerProcess:
        assert self.process is not None, "launch() first"
        deadline = self._began + timeout
        while True:
            if self.process.poll() is not None:
                text = self.log_text()
                self.stop()
                raise RuntimeError(f"bench server exited:\n{text}")
            if time.monotonic() > deadline:
                text = self.log_text()
                self.stop()
                raise RuntimeError(f"bench server did not start:\n{text}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.05)
        self.startup_seconds = time.monotonic() - self._began
        return self

    def start(self, timeout: float = 300.0) -> ServerProcess:
        try:
            return self.launch().wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server process has used so far."""
        return process_cpu_seconds(self.process.pid) if self.process else 0.0

    def log_text(self) -> str:
        if not self._log.closed:
            self._log.flush()
        with contextlib.suppress(OSError):
            return self._log_path.read_text(errors="replace")[-4000:]
        return ""

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._log.close()
        self._log_path.unlink(missing_ok=True)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc), 0.0 where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def load_average() -> str:
    try:
        return " / ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def run_loadgen(spec: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
    """Run the load generator in a child process of its own; returns its JSON answer."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-m", "bench.loadgen", json.dumps(spec)], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- statistics --------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100), nearest rank."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return float(ordered[rank - 1])


# -- results -----------------------------------------------------------------------------


@dataclass
class Row:
    section: str
    name: str
    value: str
    target: str = ""
    met: bool | None = None  # None: no target (or not judged in smoke mode)
    runs: list[float] = field(default_factory=list)
    note: str = ""

    def verdict(self, smoke: bool) -> str:
        if self.met is None or not self.target:
            return ""
        if smoke:
            return "(smoke)"
        return "met" if self.met else "**missed**"


def fmt(value: float, digits: int = 0) -> str:
    if value != value:  # nan
        return "n/a"
    return f"{value:,.{digits}f}"


def fmt_runs(values: Sequence[float], digits: int = 0) -> str:
    return ", ".join(fmt(v, digits) for v in values)


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine() -> dict[str, str]:
    commit = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                capture_output=True, text=True, timeout=5).stdout.strip()
    return {
        "cpu": cpu_model(),
        "cores": str(os.cpu_count()),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "commit": commit,
    }


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    out: list[float] = []
    began = time.perf_counter()
    yield out
    out.append(time.perf_counter() - began)
