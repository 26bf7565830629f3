"""Profile a bench server under load with py-spy: `python -m bench.profile [scenario ...]`.

Starts the server, attaches `py-spy record` (sampling, raw collapsed stacks)
for the length of one load-generator run, and prints where the server's time
goes: self time by layer (the package of the innermost frame), and the top
frames by self and by inclusive time. Scenarios: graphql-1, graphql-10,
graphql-100, bare-1, bare-10, bare-100 (target-batch).
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.common import ServerProcess, run_loadgen

FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^():]+)(?::(?P<line>\d+))?\)$")

LAYERS = (
    ("mongomock", "embedded store (mongomock, mongomock_motor)"),
    ("strawberry/", "GraphQL (strawberry)"),
    ("graphql/", "GraphQL (graphql-core)"),
    ("starlette/", "HTTP (starlette, uvicorn)"),
    ("uvicorn/", "HTTP (starlette, uvicorn)"),
    ("httptools", "HTTP (starlette, uvicorn)"),
    ("cross_web/", "GraphQL (strawberry)"),
    ("app/", "app/ (pipeline and domain)"),
    ("schema/", "schema/ and resolvers/"),
    ("resolvers/", "schema/ and resolvers/"),
    ("bench/", "bench (bare endpoint)"),
    ("asyncio/", "asyncio event loop"),
    ("json/", "json"),
    ("copy.py", "copy (deepcopy)"),
    ("pymongo/", "pymongo / bson"),
    ("bson/", "pymongo / bson"),
    ("redis/", "redis client"),
)


def _split(frame: str) -> tuple[str, str]:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip(), ""
    return m["func"], m["file"]


def layer_of(file: str) -> str:
    for marker, name in LAYERS:
        if marker in file:
            return name
    return "other (stdlib, builtins)"


def summarize(raw: str, top: int = 15) -> str:
    """What a py-spy raw (collapsed stacks) profile shows, as text."""
    self_by_frame: collections.Counter[str] = collections.Counter()
    incl_by_frame: collections.Counter[str] = collections.Counter()
    by_layer: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_split(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += count
        func, file = frames[-1]
        self_by_frame[f"{func} ({file})"] += count
        by_layer[layer_of(file)] += count
        for name in {f"{f} ({p})" for f, p in frames}:
            incl_by_frame[name] += count
    if not total:
        return "no samples\n"
    out = [f"{total} samples", "", "self time by layer (innermost frame's package):"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in by_layer.most_common()]
    out += ["", f"top {top} frames by self time:"]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in self_by_frame.most_common(top)]
    out += ["", f"top {top} frames by inclusive time (below the event loop):"]
    skip = ("runpy", "Runner.run", "run_forever", "_run_once", "Handle._run", "asyncio_run",
            "<module>", "main (bench/server.py", "Server.run", "run (uvicorn/main.py",
            "_run_module_as_main", "_run_code", "uvloop", "Server.serve", "serve (uvicorn")
    shown = [(name, n) for name, n in incl_by_frame.most_common()
             if not any(s in name for s in skip)][:top]
    out += [f"  {100 * n / total:5.1f}%  {name}" for name, n in shown]
    return "\n".join(out) + "\n"


def profile(kind: str, batch: int, seconds: float = 6.0, rate: int = 250,
            keep: Path | None = None, single: str = "viewProduct") -> str:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        return "py-spy is not installed (pip install py-spy)\n"
    with ServerProcess(kind) as server, tempfile.TemporaryDirectory() as tmp:
        assert server.process is not None
        # Warm the server up before sampling.
        run_loadgen({"mode": "closed", "target": server.target, "base": server.base, "batch": batch,
                     "single": single, "duration": 1.0, "warmup": 0.2, "runs": 1, "tag": "pw"})
        out = Path(tmp) / "profile.txt"
        sampler = subprocess.Popen(
            [spy, "record", "--pid", str(server.process.pid), "--duration", str(int(seconds)),
             "--rate", str(rate), "--format", "raw", "-o", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = run_loadgen({"mode": "closed", "target": server.target, "base": server.base,
                              "batch": batch, "single": single, "duration": seconds + 1,
                              "warmup": 0.0, "runs": 1, "tag": "pr"})
        sampler.wait(timeout=60)
        if keep is not None and out.exists():
            shutil.copy(out, keep)
        run = result["runs"][0]
        head = (f"== {kind}, {batch} event(s) per request: {run['rps']:,.0f} requests/s, "
                f"{run['eps']:,.0f} events/s while sampled ==\n")
        return head + (summarize(out.read_text()) if out.exists() else "no profile written\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("scenarios", nargs="*", default=["graphql-1", "bare-1", "graphql-100"])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--keep", type=Path, help="folder to keep the raw profiles in")
    args = parser.parse_args(argv)
    for scenario in args.scenarios:
        kind, _, batch = scenario.partition("-")
        keep = args.keep / f"{scenario}.txt" if args.keep else None
        print(profile(kind, int(batch or 1), args.seconds, keep=keep), flush=True)


if __name__ == "__main__":
    main()
