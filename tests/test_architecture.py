"""The house rules of docs/architecture.md, checked on the source: layers import one way,
no module imports itself back through others, and only the store touches the database."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "parlour"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> Iterator[str]:
    """Every module this file imports, at the top or inside functions; not those only
    imported for type checking."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for child in ast.walk(node))
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def graph() -> dict[str, set[str]]:
    files = {module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}
    return {name: {i for i in imports(path) if i in files and i != name} for name, path in files.items()}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_module_imports_itself_back_through_others() -> None:
    edges = graph()
    # Imports of a package's __init__ that only re-exports are edges too; a cycle is a
    # path from a module back to itself.
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    assert cycles == []


ALLOWED = {
    "domain": {"domain"},
    "settings": {"settings"},
    "pipes": {"pipes"},  # messages between Parlour's own processes
    "store": {"store", "domain", "settings"},
    "services": {"services", "store", "domain", "settings", "pipes"},
    # An importer reads a file into domain records and nothing else (exports are a service).
    "importers": {"importers", "domain", "settings", "pipes"},
    "web": {"web", "services", "importers", "domain", "settings"},
    "cli": {
        "cli",
        "services",
        "importers",
        "store",
        "domain",
        "settings",
        "app",
    },  # cli migrates (architecture.md)
    "app": {"app", "web", "services", "domain", "settings"},
}


@pytest.mark.parametrize("source_layer", sorted(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(source_layer: str) -> None:
    wrong = sorted(
        (module, target)
        for module, targets in graph().items()
        if layer(module) == source_layer
        for target in targets
        if layer(target) not in ALLOWED[source_layer] and target != "parlour"
    )
    assert wrong == []


@pytest.mark.parametrize(
    ("library", "owners"),
    [
        ("sqlalchemy", {"store"}),
        ("alembic", {"store"}),
        ("psycopg", {"store"}),
        ("sqlite3", {"store"}),
        ("fastapi", {"web", "app"}),
        ("starlette", {"web", "app"}),
    ],
)
def test_only_its_layer_imports_a_database_or_web_library(library: str, owners: set[str]) -> None:
    # The Isso importer reads the writer's old Isso database, an input file like any other
    # format's, never Parlour's own: it opens it read-only with the standard library.
    exceptions = {("sqlite3", "parlour.importers.isso")}
    users = sorted(
        module
        for module, path in (
            (module_name(p), p) for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts
        )
        if any(i == library or i.startswith(library + ".") for i in imports(path))
        and layer(module) not in owners
        and (library, module) not in exceptions
    )
    assert users == []
