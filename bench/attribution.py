"""Tracking throughput with session channels and attribution, against the code before.

Issue 25 classifies every session as it opens and decides attribution with each
order. This row runs the code before the change (main's tip, checked out in a
temporary git worktree) and the current tree side by side: two servers at once, runs
alternating, the same load (the tracker's `track` request; every 5th event a new
visit from a search referrer with utm parameters, so sessions keep opening). The
ratio is taken run by run: current / before, events per second and events per
CPU-second of the server.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import ROOT, ServerProcess, median, run_loadgen

VISITS_EVERY = 5


@contextlib.contextmanager
def before_tree(base: str) -> Iterator[Path]:
    """`base` checked out in a temporary worktree, removed after."""
    folder = Path(tempfile.mkdtemp(prefix="bench-before-")) / "tree"
    made = subprocess.run(["git", "worktree", "add", "--detach", str(folder), base], cwd=ROOT,
                          capture_output=True)
    if made.returncode != 0:  # no git history here (an unpacked release): this tree twice
        yield ROOT
        return
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT,
                       capture_output=True)


def base_commit(ref: str = "main") -> str:
    """What "before" is: TRACKER_BENCH_BEFORE if set (once this is merged, the commit
    before the merge), else where this branch left main; HEAD where neither is known."""
    if os.environ.get("TRACKER_BENCH_BEFORE"):
        return os.environ["TRACKER_BENCH_BEFORE"]
    done = subprocess.run(["git", "merge-base", "HEAD", ref], cwd=ROOT, capture_output=True,
                          text=True)
    return done.stdout.strip() or "HEAD"


def _run(server: ServerProcess, batch: int, visitors: int, duration: float, warmup: float,
         tag: str) -> dict[str, Any]:
    cpu = server.cpu_seconds()
    result = run_loadgen({"mode": "closed", "target": "graphql", "base": server.base,
                          "batch": batch, "single": "track", "visitors": visitors,
                          "duration": duration, "warmup": warmup, "runs": 1, "tag": tag,
                          "visits_every": VISITS_EVERY})["runs"][0]
    cpu = server.cpu_seconds() - cpu
    result["eps_per_cpu"] = result["eps"] * (duration + warmup) / cpu if cpu > 0 else 0.0
    if result["errors"]:
        raise RuntimeError(f"{tag}: {result['errors']} errors, first: {result['first_error']}")
    return result


def measure(runs: int = 3, duration: float = 4.0, warmup: float = 1.0, visitors: int = 50,
            base: str | None = None) -> dict[str, Any]:
    base = base or base_commit()
    out: dict[str, Any] = {"base": base, "runs": runs}
    with before_tree(base) as old:
        before, after = ServerProcess("graphql", root=old), ServerProcess("graphql")
        try:
            for s in (before, after):
                s.launch()
            for s in (before, after):
                s.wait_ready()
            for batch in (1, 10):
                pairs = []
                for r in range(runs):
                    b = _run(before, batch, visitors, duration, warmup, f"old{batch}r{r}")
                    a = _run(after, batch, visitors, duration, warmup, f"new{batch}r{r}")
                    pairs.append((b, a))
                out[f"batch{batch}"] = {
                    "before_eps": median([b["eps"] for b, _ in pairs]),
                    "after_eps": median([a["eps"] for _, a in pairs]),
                    "ratio": median([a["eps"] / b["eps"] for b, a in pairs if b["eps"]]),
                    "ratio_per_cpu": median([a["eps_per_cpu"] / b["eps_per_cpu"]
                                             for b, a in pairs if b["eps_per_cpu"]]),
                    "ratios": [a["eps"] / b["eps"] for b, a in pairs if b["eps"]],
                }
        finally:
            for s in (before, after):
                s.stop()
    return out
