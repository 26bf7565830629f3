"""The benchmarks' smoke run: every figure of bench/RESULTS.md is still produced.

Nothing is timed or judged here; `python -m bench --smoke` runs each benchmark
with tiny counts (about half a minute) and the table must have every row.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench import report
from bench.report import ROW_IDS

ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke_writes_every_row(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    table = out.read_text()
    assert "| CPU |" in table and "| cores |" in table and "| date |" in table
    rows = {line.split("|")[1].strip() for line in table.splitlines()
            if line.startswith("| ") and line.count("|") >= 8}
    missing = [rid for rid in ROW_IDS if rid not in rows]
    assert not missing, f"rows missing from the table: {missing}\n{table}"
    # Every row has a figure (a skipped trigger row says why; nothing else may be skipped).
    for line in table.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and cells[1] in ROW_IDS:
            assert cells[3], line
            assert cells[3] != "skipped" or cells[1].startswith("3."), line
            assert "n/a" not in cells[3], line


def test_ingestion_rows_are_written_when_a_bare_run_completed_nothing() -> None:
    # A loaded machine can leave a smoke run (half a second) with no request completed:
    # its rows still get written, the figures it lacks as n/a.
    def block(value: float) -> dict[str, Any]:
        return {"median": value, "runs": [value]}

    def batch(bare: float) -> dict[str, Any]:
        return {"graphql_eps": block(100.0), "bare_eps": block(bare),
                "graphql_eps_per_cpu": block(50.0), "bare_eps_per_cpu": block(bare),
                "ratio": block(float("nan") if not bare else 100.0 / bare)}

    latency = {k: block(1.0) for k in ("p50", "p99", "max", "achieved_rps")}
    results = {"config": {"rate": 50.0, "preloads": [500]},
               "batch1": batch(200.0), "batch10": batch(200.0), "batch100": batch(0.0),
               "track1": {"graphql_eps": block(100.0), "graphql_eps_per_cpu": block(50.0)},
               "latency": {"graphql": latency, "bare": latency},
               "preload_batch1": {n: {"eps": block(9.0), "eps_per_cpu": block(9.0)}
                                  for n in ("0", "500")},
               "preload_batch100": {n: {"eps": block(9.0), "eps_per_cpu": block(9.0)}
                                    for n in ("0", "500")}}
    rows = {row.section: row for row in report.ingestion_rows(results)}
    assert "per CPU-second: n/a" in rows["1.9"].note
    assert "per CPU-second: 0.25" in rows["1.7"].note
