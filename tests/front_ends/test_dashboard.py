"""The dashboard's own tests: the built bundle, its routes, and every view in Debian's
headless Chromium against the real server.

They live in dashboard_js/test (node --test with playwright-core); this runs them as
part of the suite, so the README's test command and CI run them too. Screenshots of
each view are written to dashboard_js/screenshots/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

DASHBOARD_JS = Path(__file__).resolve().parents[2] / "dashboard_js"


def test_dashboard_in_a_real_browser() -> None:
    assert shutil.which("node"), "node is needed for the browser tests"
    assert (DASHBOARD_JS / "node_modules" / "playwright-core").exists(), (
        "run `npm ci` in dashboard_js (./scripts/test does)")
    assert Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")).exists(), (
        "Debian's chromium is needed (./scripts/test installs it)")
    env = {**os.environ, "TRACKER_PYTHON": sys.executable}
    run = subprocess.run(["npm", "test", "--silent"], cwd=DASHBOARD_JS, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-3000:]
    assert "# fail 0" in run.stdout, run.stdout[-3000:]
