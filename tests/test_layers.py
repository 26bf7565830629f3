"""Dependencies run one way: server -> resolvers -> schema -> domain -> backends.

Read from the import statements of every module, so a lower layer that imports a
higher one fails here, whatever the import is for.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ORDER = ["backends", "domain", "schema", "resolvers", "server"]  # low to high


def layer(module: str) -> str | None:
    """The layer of a module of ours, by its dotted name; None for anything else."""
    parts = module.split(".")
    if parts[0] in {"schema", "resolvers"}:
        return parts[0]
    if parts[0] != "app":
        return None
    if len(parts) > 1 and parts[1] in {"server", "backends"}:
        return parts[1]
    if len(parts) > 1 and parts[1] == "__main__":
        return "server"
    return "domain"


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            # `from app import tracking` names a module too
            found += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return found


def modules() -> list[tuple[str, Path]]:
    out = []
    for folder in ("app", "schema", "resolvers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out.append((dotted.removesuffix(".__init__"), path))
    return out


def test_layers_are_assigned_as_the_folders_say() -> None:
    assert layer("app.server.asgi") == "server"
    assert layer("app.backends.broker.redis") == "backends"
    assert layer("app.tracking") == "domain"
    assert layer("schema.types") == "schema"
    assert layer("resolvers.root") == "resolvers"
    assert layer("strawberry") is None


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda v: str(v).split("/")[-1])
def test_no_module_imports_a_higher_layer(module: str, path: Path) -> None:
    own = ORDER.index(layer(module))  # type: ignore[arg-type]
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {name} ({layer(name)})"
             for line, name in imports_of(path)
             if layer(name) is not None and ORDER.index(layer(name)) > own]  # type: ignore[arg-type]
    assert not wrong, "\n".join(wrong)


def test_the_check_catches_a_wrong_import(tmp_path: Path) -> None:
    wrong = tmp_path / "x.py"
    wrong.write_text("from resolvers.root import Query\nfrom app import tracking\n")
    names = [name for _, name in imports_of(wrong)]
    assert "resolvers.root" in names and "app.tracking" in names
    assert ORDER.index(layer("resolvers.root")) > ORDER.index(layer("app.tracking"))
