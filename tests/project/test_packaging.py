"""What `pip install smartcom-tracker` gets: the server's packages and every dependency."""

from __future__ import annotations

import ast
import dataclasses
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("app", "schema", "resolvers")
NOT_COPIED = shutil.ignore_patterns(".venv", ".git", "node_modules", "build", "*.egg-info",
                                    "__pycache__", ".pytest_cache", ".ruff_cache")


def _name(requirement: str) -> str:
    """The distribution a requirement names, normalised (PEP 503)."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert name, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_name(r) for r in project["dependencies"]}


def _imported_modules() -> set[str]:
    """Top-level modules imported anywhere in the shipped packages."""
    found: set[str] = set()
    for package in SHIPPED:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    found |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
    return found - set(sys.stdlib_module_names) - set(SHIPPED) - {"__future__"}


def test_every_imported_package_is_a_declared_dependency() -> None:
    owners = importlib.metadata.packages_distributions()
    undeclared = {}
    for module in sorted(_imported_modules()):
        distributions = {_name(d) for d in owners.get(module, [module])}
        if not distributions & _declared():
            undeclared[module] = sorted(distributions)
    assert not undeclared, f"imported but not in pyproject.toml's dependencies: {undeclared}"


def test_strawberry_builds_our_inputs_with_from_input() -> None:
    # schema/inputs.py installs `from_input` hooks; a Strawberry without the hook
    # (before 0.329) would ignore them silently and take its slow path.
    from schema.inputs import TrackInput

    definition = type(TrackInput.__strawberry_definition__)  # type: ignore[attr-defined]
    assert "from_input" in {f.name for f in dataclasses.fields(definition)}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    source = tmp_path_factory.mktemp("source") / "tree"
    shutil.copytree(ROOT, source, ignore=NOT_COPIED)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out),
                    str(source)], check=True, capture_output=True)
    [built] = out.glob("*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_ships_the_server_and_not_bench_or_tests(wheel: zipfile.ZipFile) -> None:
    top = {name.split("/")[0] for name in wheel.namelist()}
    assert {t for t in top if not t.endswith(".dist-info")} == set(SHIPPED)
    assert {"app/static/tracker.min.js", "app/static/demo.html"} <= set(wheel.namelist())


def test_the_wheel_declares_the_dependencies(wheel: zipfile.ZipFile) -> None:
    [metadata] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    required = {_name(line.split(":", 1)[1]) for line in wheel.read(metadata).decode().splitlines()
                if line.startswith("Requires-Dist:") and "extra ==" not in line}
    assert required == _declared()
