"""The layers of joingate/, read from its source: every import statement counts, at module
level, inside a function or under `if TYPE_CHECKING:` (a type-only import is still a
dependency a reader has to follow).

- no import cycle among joingate modules;
- the CLI does not import the web pages (the report it prints comes from the report package);
- the HTTP API and the web pages do not import each other (joingate.application mounts both);
- the pure core imports no shell: not directly, not through another joingate module.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

import joingate

Graph = Mapping[str, frozenset[str]]

# The vocabulary, the rules and models (restrictions, rooms, jurisdictions, corrections,
# census), the decision (engine, geo and its checks, enforcement epochs) and the audit log's
# hashing and notes.
CORE = ("joingate.errors", "joingate.vocabulary", "joingate.rooms", "joingate.jurisdiction",
        "joingate.restrictions", "joingate.corrections", "joingate.census", "joingate.engine",
        "joingate.geo", "joingate.geocheck", "joingate.geocompare", "joingate.enforcement",
        "joingate.merkle", "joingate.note", "joingate.tlog", "joingate.audit")
SHELL_LIBRARIES = ("aiohttp", "click", "asyncpg", "sqlite3")
SHELL_MODULES = ("joingate.api", "joingate.web", "joingate.cli", "joingate.store",
                 "joingate.runtime", "joingate.application")


def modules(root: Path, package: str) -> dict[str, Path]:
    """Module name -> file, for every .py file of the package under root."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imported_names(name: str, path: Path) -> list[tuple[str, str | None]]:
    """Each import statement's module made absolute, with the name taken from it (`from X
    import a`: (X, a), which may itself be a module; `import X`: (X, None))."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    names: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.extend((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            names.extend((source, alias.name) for alias in node.names)
    return names


def internal_edges(name: str, imported: Iterable[tuple[str, str | None]],
                   known: Iterable[str]) -> frozenset[str]:
    """The joingate modules imported: `from X import a` is an edge to X.a when that is a
    module, else to X. (The package a submodule sits in runs first anyway, so it is not an
    edge of its own.)"""
    known = set(known)
    edges = set()
    for source, taken in imported:
        target = f"{source}.{taken}" if taken and f"{source}.{taken}" in known else source
        if target in known and target != name:
            edges.add(target)
    return frozenset(edges)


def graph(root: Path, package: str) -> dict[str, frozenset[str]]:
    found = modules(root, package)
    return {name: internal_edges(name, imported_names(name, path), found)
            for name, path in found.items()}


def external(root: Path, package: str) -> dict[str, frozenset[str]]:
    """Module -> the top-level names of what it imports from outside the package."""
    out = {}
    for name, path in modules(root, package).items():
        out[name] = frozenset(source.split(".")[0] for source, _ in imported_names(name, path)
                              if source.split(".")[0] != package)
    return out


def cycles(edges: Graph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def path_between(edges: Graph, start: str, goal: str) -> list[str]:
    """One import chain from start to goal ([] when none)."""
    parents: dict[str, str] = {}
    frontier = [start]
    seen = {start}
    while frontier:
        node = frontier.pop(0)
        if node == goal:
            chain = [node]
            while chain[-1] != start:
                chain.append(parents[chain[-1]])
            return chain[::-1]
        for nxt in sorted(edges.get(node, ())):
            if nxt not in seen:
                seen.add(nxt)
                parents[nxt] = node
                frontier.append(nxt)
    return []


def is_under(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


ROOT = Path(joingate.__file__).resolve().parent.parent
GRAPH = graph(ROOT, "joingate")
EXTERNAL = external(ROOT, "joingate")


# -- the reader itself ----------------------------------------------------------------------

def test_the_reader_sees_every_kind_of_import_and_finds_a_cycle(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "from . import b\n",
        "b.py": "def f():\n    from .sub import c\n",
        "sub/__init__.py": "from .c import C\n",
        "sub/c.py": ("from typing import TYPE_CHECKING\nimport click\n"
                     "if TYPE_CHECKING:\n    from ..a import A\n"),
        "d.py": "import pkg.sub.c\nfrom pkg import b as other\nfrom .sub import C\n",
    }
    for name, text in files.items():
        (package / name).write_text(text)
    edges = graph(tmp_path, "pkg")
    assert edges == {"pkg": frozenset(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.sub.c"},
                     "pkg.sub": {"pkg.sub.c"}, "pkg.sub.c": {"pkg.a"},
                     "pkg.d": {"pkg.sub.c", "pkg.b", "pkg.sub"}}
    assert cycles(edges) == [["pkg.a", "pkg.b", "pkg.sub.c"]]
    assert external(tmp_path, "pkg")["pkg.sub.c"] == {"typing", "click"}
    assert path_between(edges, "pkg.d", "pkg.a") == ["pkg.d", "pkg.sub.c", "pkg.a"]
    assert path_between(edges, "pkg.a", "pkg.d") == []


# -- joingate -------------------------------------------------------------------------------

def test_no_import_cycle_among_joingate_modules() -> None:
    assert len(GRAPH) > 30, sorted(GRAPH)
    assert cycles(GRAPH) == [], "these modules import each other (directly or in a ring)"


def test_the_cli_does_not_import_the_web_pages() -> None:
    assert not [m for m in GRAPH["joingate.cli"] if is_under(m, ["joingate.web"])]


def test_api_and_web_do_not_import_each_other() -> None:
    for side, other in (("joingate.api", "joingate.web"), ("joingate.web", "joingate.api")):
        crossing = {m: sorted(t for t in targets if is_under(t, [other]))
                    for m, targets in GRAPH.items() if is_under(m, [side])}
        assert not {m: t for m, t in crossing.items() if t}, f"{side} imports {other}"


@pytest.mark.parametrize("module", CORE)
def test_the_core_imports_no_shell(module: str) -> None:
    assert module in GRAPH, f"{module} is listed as core but does not exist"
    reached = {m for m in GRAPH if path_between(GRAPH, module, m)}
    for inner in sorted(reached):
        assert not is_under(inner, SHELL_MODULES), path_between(GRAPH, module, inner)
        libraries = EXTERNAL[inner] & set(SHELL_LIBRARIES)
        assert not libraries, (path_between(GRAPH, module, inner), sorted(libraries))
