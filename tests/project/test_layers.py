"""Dependencies run one way, and every package shows a public face.

Layers, low to high: backends -> domain -> schema -> resolvers -> server. Inside the
domain, packages have an order too (`DOMAIN`, low to high): a package imports only
packages below it, so there is no loop between them. Code outside a package imports
only its face (`from app.webhooks import Sender`, a name in `app/webhooks/__init__.py`'s
`__all__`), never a module behind it (`app.webhooks.sender`).

Read from the import statements of every module, so a wrong-way import fails here,
whatever it is for (even one made only for type checking).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["backends", "domain", "schema", "resolvers", "server"]  # low to high
# The domain, low to high. A package (a folder with a face) or a leaf module of app/.
DOMAIN = [
    "core", "settings", "interests", "carts", "shops", "webhooks", "triggers", "access",
    "indexes", "platform", "analytics", "catalog", "recommendations", "abandonment",
    "identity", "attribution", "audiences", "tracking",
]


def unit(module: str) -> tuple[str, str | None] | None:
    """(layer, domain package) of a module of ours, by its dotted name; None for others."""
    parts = module.split(".")
    if parts[0] in {"schema", "resolvers"}:
        return parts[0], None
    if parts[0] != "app" or len(parts) == 1:
        return None
    if parts[1] in {"server", "backends"}:
        return parts[1], None
    if parts[1] == "__main__":
        return "server", None
    return "domain", parts[1]


def imports_of(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, names imported from it) for every absolute import of a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [a.name for a in node.names]))
    return found


def face(package: str, root: Path = ROOT) -> set[str] | None:
    """The names in a domain package's `__all__`; None for a leaf module."""
    init = root / "app" / package / "__init__.py"
    if not init.exists():
        return None
    for node in ast.parse(init.read_text()).body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


def modules(root: Path = ROOT) -> list[tuple[str, Path]]:
    out = []
    for folder in ("app", "schema", "resolvers"):
        for path in sorted((root / folder).rglob("*.py")):
            dotted = ".".join(path.relative_to(root).with_suffix("").parts)
            if dotted != "app.__init__":  # the top package: a docstring, no imports
                out.append((dotted.removesuffix(".__init__"), path))
    return out


def targets(module: str, names: list[str]) -> list[str]:
    """What an import names: `from app import tracking` names the package app.tracking."""
    if module == "app":
        return [f"app.{n}" for n in names]
    return [module]


def problems(module: str, path: Path, root: Path = ROOT) -> list[str]:
    """Every rule this module's imports break, one line each."""
    own = unit(module)
    assert own is not None
    found = []
    for line, imported, names in imports_of(path):
        for target in targets(imported, names):
            other = unit(target)
            if other is None:
                continue
            where = f"{path.relative_to(root)}:{line} imports {target}"
            if LAYERS.index(other[0]) > LAYERS.index(own[0]):
                found.append(f"{where}: {other[0]} is above {own[0]}")
            if other[0] != "domain" or other[1] == own[1]:
                continue
            if own[0] == "domain" and DOMAIN.index(other[1]) > DOMAIN.index(own[1]):
                found.append(f"{where}: package {other[1]} is above {own[1]}")
            public = face(other[1], root)
            deep = target.count(".") > 1
            if public is not None and deep:
                found.append(f"{where}: past the face of app.{other[1]}")
            elif public is not None and imported == target:
                hidden = sorted(set(names) - public)
                if hidden:
                    found.append(f"{where}: {', '.join(hidden)} not in its __all__")
    return found


def package_graph(root: Path = ROOT) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in modules(root):
        own = unit(module)
        if own is None or own[0] != "domain":
            continue
        for _, imported, names in imports_of(path):
            for target in targets(imported, names):
                other = unit(target)
                if other and other[0] == "domain" and other[1] != own[1]:
                    graph.setdefault(own[1], set()).add(other[1])
    return graph


def module_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Imports between our modules; a package's face counts as a module of its own."""
    known = {m for m, _ in modules(root)}
    graph: dict[str, set[str]] = {}
    for module, path in modules(root):
        for _, imported, names in imports_of(path):
            named = [imported, *(f"{imported}.{n}" for n in names)]
            graph.setdefault(module, set()).update(n for n in named if n in known and n != module)
    return graph


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import loops between packages, each as the path that closes it."""
    found, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            found.append([*path[path.index(node):], node])
            return
        if node in done:
            return
        for nxt in sorted(graph.get(node, ())):
            visit(nxt, [*path, node])
        done.add(node)

    for start in sorted(graph):
        visit(start, [])
    return found


def domain_units(root: Path = ROOT) -> set[str]:
    app = root / "app"
    names = {p.name for p in app.iterdir() if (p / "__init__.py").exists()}
    names |= {p.stem for p in app.glob("*.py")}
    return names - {"server", "backends", "__init__", "__main__"}


def test_layers_and_packages_are_assigned_as_the_folders_say() -> None:
    assert unit("app.server.asgi") == ("server", None)
    assert unit("app.backends.broker.redis") == ("backends", None)
    assert unit("app.tracking.pipeline") == ("domain", "tracking")
    assert unit("app.carts") == ("domain", "carts")
    assert unit("schema.types") == ("schema", None)
    assert unit("resolvers.root") == ("resolvers", None)
    assert unit("strawberry") is None


def test_every_domain_package_has_a_place_in_the_order() -> None:
    assert domain_units() <= set(DOMAIN), domain_units() - set(DOMAIN)


def test_every_domain_folder_has_a_face() -> None:
    faceless = [p.name for p in (ROOT / "app").iterdir()
                if p.is_dir() and p.name not in {"server", "backends", "static", "__pycache__"}
                and face(p.name) is None]
    assert not faceless


def test_a_face_names_only_what_it_has() -> None:
    import importlib
    for name in sorted(domain_units()):
        public = face(name)
        if public:
            package = importlib.import_module(f"app.{name}")
            assert not [n for n in public if not hasattr(package, n)], name


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda v: str(v).split("/")[-1])
def test_no_module_imports_upward_or_past_a_face(module: str, path: Path) -> None:
    wrong = problems(module, path)
    assert not wrong, "\n".join(wrong)


def test_no_two_packages_import_each_other_in_a_loop() -> None:
    assert loops(package_graph()) == []


def test_no_two_modules_import_each_other_in_a_loop() -> None:
    """Not even through their own package's face: siblings import each other directly."""
    assert loops(module_graph()) == []


def test_the_check_catches_each_kind_of_wrong_import(tmp_path: Path) -> None:
    """A deep import, a lower package importing a higher one, a layer upward, and a loop."""
    for name, text in {
        "app/tracking/__init__.py": "from app.tracking.pipeline import track\n__all__ = ['track']",
        "app/tracking/pipeline.py": "from app.webhooks.sender import Sender\ntrack = 1\n",
        "app/webhooks/__init__.py": "from app.webhooks.sender import Sender\n__all__ = ['Sender']",
        "app/webhooks/sender.py": "from app.tracking import track\nfrom resolvers import root\n",
        "app/core/__init__.py": "from app.tracking import secret\n",
    }.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    for folder in ("schema", "resolvers"):
        (tmp_path / folder).mkdir()
    found = {m: problems(m, p, tmp_path) for m, p in modules(tmp_path)}
    assert any("past the face of app.webhooks" in w for w in found["app.tracking.pipeline"])
    assert any("package tracking is above webhooks" in w for w in found["app.webhooks.sender"])
    assert any("resolvers is above domain" in w for w in found["app.webhooks.sender"])
    assert any("secret not in its __all__" in w for w in found["app.core"])
    assert ["tracking", "webhooks", "tracking"] in loops(package_graph(tmp_path))
    assert loops(module_graph(tmp_path))  # pipeline -> webhooks.sender -> tracking -> pipeline
