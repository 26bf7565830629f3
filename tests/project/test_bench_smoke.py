"""The benchmarks' smoke run: every figure of bench/RESULTS.md is still produced.

Nothing is timed or judged here; `python -m bench --smoke` runs each benchmark
with tiny counts (about half a minute) and the table must have every row.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
