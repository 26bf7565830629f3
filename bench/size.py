"""Tracker size: bytes of app/static/tracker.min.js after `gzip -9`, beside its peers."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

from bench.common import ROOT

TRACKER = ROOT / "app" / "static" / "tracker.min.js"

# As measured by the issue author (issue 7): gzip -9 of each npm package's browser build.
PEERS = (
    ("Segment `@segment/analytics-next`", "dist/umd/index.js", 30_012),
    ("`mixpanel-browser`", "dist/mixpanel.min.js", 33_431),
    ("`@amplitude/analytics-browser`", "lib/scripts/amplitude-min.js", 68_719),
    ("`@rudderstack/analytics-js`", "dist/npm/modern/umd/index.js", 72_670),
)


def gzip9_size(path: Path) -> tuple[int, str]:
    """Bytes after `gzip -9` (the gzip binary, reading stdin, as `gzip -9 -c < file`)."""
    data = path.read_bytes()
    binary = shutil.which("gzip")
    if binary:
        out = subprocess.run([binary, "-9", "-c", "-n"], input=data, capture_output=True,
                             check=True).stdout
        return len(out), "gzip -9"
    return len(gzip.compress(data, compresslevel=9, mtime=0)), "python gzip level 9"


def measure() -> dict[str, object]:
    size, how = gzip9_size(TRACKER)
    return {"raw": TRACKER.stat().st_size, "gzip9": size, "how": how}


def dashboard_gzip9() -> tuple[int, str]:
    """The dashboard's JS and CSS, each after `gzip -9`, added up."""
    static = ROOT / "app" / "static"
    (js, how), (css, _) = (gzip9_size(static / "dashboard.js"),
                           gzip9_size(static / "dashboard.css"))
    return js + css, how
