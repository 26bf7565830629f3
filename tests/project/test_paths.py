"""Every file path written in the README, in docs/ and in the code's docstrings and comments exists.

A path is a word that starts at one of the repository's top folders and names a file by its
extension (`app/tracking/pipeline.py`, `docs/api.md`, `tracker_js/src/tracker.js`). Moving a
file without fixing what names it fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOPS = ("app", "schema", "resolvers", "tests", "bench", "docs", "scripts", "tracker_js",
        "dashboard_js", ".ci")
PATH = re.compile(r"(?<![\w./-])((?:" + "|".join(re.escape(t) for t in TOPS)
                  + r")/[\w./-]*\w\.(?:py|md|js|mjs|json|graphql|html|css|toml|sh|xml))\b")
PLACEHOLDERS = ("<", "*", "...", "…")
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")  # a Markdown link's target, anchor dropped
FRONT_ENDS = ("dashboard_js", "tracker_js")  # their scripts name paths from their own folder


def written() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for folder in ("app", "schema", "resolvers", "tests", "bench", "scripts"):
        files += sorted((ROOT / folder).rglob("*.py"))
    return [f for f in files if "node_modules" not in f.parts]


def paths_in(text: str) -> set[str]:
    return {m for m in PATH.findall(text) if not any(p in m for p in PLACEHOLDERS)}


def test_the_pattern_finds_paths_and_only_paths() -> None:
    text = "see app/tracking/pipeline.py, `docs/api.md`, tracker_js/src/tracker.js; not x/app/y.py"
    found = paths_in(text)
    assert found == {"app/tracking/pipeline.py", "docs/api.md", "tracker_js/src/tracker.js"}


def exists(path: str) -> bool:
    return any((ROOT / base / path).exists() for base in ("", *FRONT_ENDS))


@pytest.mark.parametrize("source", written(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_written_here_exists(source: Path) -> None:
    missing = sorted(p for p in paths_in(source.read_text()) if not exists(p))
    assert not missing, f"{source.relative_to(ROOT)} names files that do not exist: {missing}"


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))],
                         ids=lambda p: p.name)
def test_every_link_between_pages_leads_somewhere(page: Path) -> None:
    targets = [t for t in LINK.findall(page.read_text()) if "://" not in t]
    missing = sorted(t for t in targets if not (page.parent / t).exists())
    assert not missing, f"{page.relative_to(ROOT)} links to nothing: {missing}"
