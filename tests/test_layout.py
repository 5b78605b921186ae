"""The shape of the tree, drawn from its imports (docs/architecture.md): no import circle, no
private names across modules, Gradio only in ui/, and each package importing only the floors
below it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import REPO

# Each package, floor by floor, and what it may import of ours. The words (catalogues) are below
# everything: every floor says something to a visitor. providers.registry (the provider
# table, plain data) is the one piece of the adapter that configuration reads: settings turns its
# rows into the configured providers.
MAY_IMPORT = {
    "words": set(),
    "errors": {"words"},
    "config": {"words", "errors", "providers.registry"},
    "providers": {"words", "errors", "config"},
    "web": {"words", "errors", "config", "providers"},
    "conversation": {"words", "errors", "config", "providers", "web"},
    "startup": {"words", "errors", "config", "providers", "web", "conversation"},
    "ui": {"words", "errors", "config", "providers", "web", "conversation", "startup"},
}


PACKAGES = tuple(MAY_IMPORT)
NOT_SHIPPED = {"tests", "bench"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_files() -> Iterator[tuple[str, Path]]:
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            yield module_name(path), path
    yield "app", REPO / "app.py"


def imports_of(name: str, path: Path) -> Iterator[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import in the file, TYPE_CHECKING and
    function-level imports included."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in {
            "import_module",
            "__import__",
        }:
            yield "<dynamic import>", []
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names = [alias.name for alias in node.names]
            if node.level and not node.module:
                for alias in names:  # from . import errors
                    yield f"{module}.{alias}", []
            else:
                yield module, names


def ours(module: str) -> bool:
    return module == "app" or module.split(".")[0] in PACKAGES


GRAPH = {name: [(m, names) for m, names in imports_of(name, path)] for name, path in module_files()}


def test_every_package_has_a_floor_and_every_module_is_drawn() -> None:
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - NOT_SHIPPED
    assert packages == set(PACKAGES)
    assert set(GRAPH) == {module_name(p) for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")} | {"app"}


def test_no_dynamic_imports() -> None:
    assert [name for name, found in GRAPH.items() if any(m == "<dynamic import>" for m, _ in found)] == []


def edges_of(name: str, found: list[tuple[str, list[str]]]) -> set[str]:
    """What importing ``name`` runs: each module it imports, and, for a module of another package,
    that package's ``__init__`` too (Python runs it first, with everything it re-exports)."""
    targets = set()
    for module, _ in found:
        if not (ours(module) and module in GRAPH):
            continue
        targets.add(module)
        top = module.split(".")[0]
        if top != name.split(".")[0] and top in GRAPH:
            targets.add(top)
    targets.discard(name)
    return targets


def test_no_import_circle() -> None:
    edges = {name: edges_of(name, found) for name, found in GRAPH.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycle = [*path[path.index(target) :], target]
                pytest.fail("import circle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_no_module_imports_another_modules_private_name() -> None:
    tests = {module_name(p): p for p in (REPO / "tests").rglob("*.py")}
    found = [*GRAPH.items(), *((n, list(imports_of(n, p))) for n, p in tests.items())]
    private = [
        f"{name}: from {module} import {imported}"
        for name, imports in found
        for module, names in imports
        if ours(module)
        for imported in names
        if imported.startswith("_") and not imported.startswith("__")
    ]
    assert private == []


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_the_floors_below_it(package: str) -> None:
    allowed = MAY_IMPORT[package]
    climbs = sorted(
        f"{name} -> {module}"
        for name, imports in GRAPH.items()
        if name.split(".")[0] == package
        for module, _ in imports
        if ours(module)
        and module.split(".")[0] != package
        and module.split(".")[0] not in allowed
        and module not in allowed
    )
    assert climbs == []


def test_only_the_page_imports_gradio() -> None:
    gradio_users = {
        name.split(".")[0]
        for name, imports in GRAPH.items()
        if any(module.split(".")[0] in {"gradio", "gradio_client", "starlette", "fastapi"} for module, _ in imports)
    }
    assert gradio_users == {"ui"}
