"""The tracker's own tests: a real page in Debian's headless Chromium, against the real server.

They live in tracker_js/test (node --test with playwright-core); this runs them
as part of the suite, so the README's test command and CI run them too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

TRACKER_JS = Path(__file__).resolve().parents[2] / "tracker_js"


def test_tracker_in_a_real_browser() -> None:
    assert shutil.which("node"), "node is needed for the browser tests"
    assert (TRACKER_JS / "node_modules" / "playwright-core").exists(), (
        "run `npm ci` in tracker_js (./scripts/test does)")
    assert Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")).exists(), (
        "Debian's chromium is needed (./scripts/test installs it)")
    env = {**os.environ, "TRACKER_PYTHON": sys.executable}
    env.pop("TRACKER_FAKE", None)
    run = subprocess.run(["npm", "test", "--silent"], cwd=TRACKER_JS, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert "# fail 0" in run.stdout, run.stdout[-3000:]
