"""The API reference in docs/ keeps up with the schema the server runs."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import strawberry

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCRIPT = ROOT / "scripts" / "export-schema"
ROOT_TYPES = ("Query", "Mutation", "Subscription")


def _export() -> dict:
    """scripts/export-schema's functions: the one place that knows how the schema is built."""
    return runpy.run_path(str(SCRIPT))


def running_schema() -> strawberry.Schema:
    return _export()["running_schema"]()


def _root_operations() -> set[str]:
    schema = running_schema()._schema
    found = set()
    for name in ROOT_TYPES:
        root = schema.get_type(name)
        found |= {f"{name}.{field}" for field in getattr(root, "fields", {})}
    return found


def _mentioned_operations() -> set[str]:
    text = (DOCS / "api.md").read_text()
    return set(re.findall(r"`((?:Query|Mutation|Subscription)\.\w+)", text))


def test_schema_graphql_is_the_running_schema() -> None:
    written = (DOCS / "schema.graphql").read_text()
    assert written == _export()["sdl"](), (
        "docs/schema.graphql differs from the running schema: "
        "run `.venv/bin/python scripts/export-schema` and commit docs/schema.graphql")


def test_every_root_operation_is_documented_in_api_md() -> None:
    missing = sorted(_root_operations() - _mentioned_operations())
    assert not missing, (
        f"docs/api.md does not document {missing}: give each operation its section "
        "(arguments, defaults, errors, limits), naming it as `Type.field`")


def test_api_md_names_no_operation_the_schema_lacks() -> None:
    stale = sorted(_mentioned_operations() - _root_operations())
    assert not stale, f"docs/api.md documents operations the schema does not have: {stale}"


def test_readme_links_only_to_files_in_the_repository() -> None:
    for doc in [ROOT / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            resolved = (doc.parent / target).resolve()
            assert resolved.is_relative_to(ROOT), f"{doc.name} links outside the repo: {target}"
            assert resolved.exists(), f"{doc.name} links to a missing file: {target}"


def test_readme_links_every_document_in_docs() -> None:
    readme = (ROOT / "README.md").read_text()
    unlinked = [p.name for p in sorted(DOCS.iterdir()) if f"](docs/{p.name}" not in readme]
    assert not unlinked, f"README.md does not link {unlinked}"
