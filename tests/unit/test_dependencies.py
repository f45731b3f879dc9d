"""Declared dependencies and imports agree: every runtime dependency is imported by joingate/,
every demo extra by joingate/testing/ (the harness of `joingate demo`, bench/ and the tests),
every test extra by the tests (or is a tool the test run uses, with the line that uses it), and
nothing is imported from a distribution that is not declared (a transitive dependency can be
dropped by its parent at any release)."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# Test extras used by running them, not by importing them: where each is used.
TOOLS = {
    "ruff": ("scripts/test.sh", ".venv/bin/ruff check"),
    "mypy": ("scripts/test.sh", ".venv/bin/mypy"),
    "pytest-asyncio": ("pyproject.toml", 'asyncio_mode = "auto"'),
    "pytest-timeout": ("pyproject.toml", "timeout = 120"),
    "build": ("tests/integration/test_packaging.py", '"-m", "build"'),
}
# Folders whose imports may come from the test extras (bench/ runs from a checkout with them).
TEST_TREES = ("tests", "bench", "scripts", "seeds")


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement ("Jinja2>=3.1" -> "jinja2")."""
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


RUNTIME = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
DEMO = {_name(r) for r in EXTRAS["demo"]}
# The test extra names the demo extra ("joingate[demo]") and adds its own.
assert "joingate[demo]" in EXTRAS["test"]
TEST = {_name(r) for r in EXTRAS["test"]} - {"joingate"}
HARNESS = ROOT / "joingate" / "testing"


def _imported_distributions(*trees: str, without: Path | None = None) -> set[str]:
    """The distributions (normalised names) whose modules the .py files under `trees` (but not
    under `without`) import, joingate itself and the standard library left out."""
    modules: set[str] = set()
    for tree in trees:
        for path in (ROOT / tree).rglob("*.py"):
            if without is not None and path.is_relative_to(without):
                continue
            named = set()
            for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
                if isinstance(node, ast.Import):
                    named |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    named.add(node.module.split(".")[0])
            # The checkout's own folders, and a script's sibling modules, are not distributions.
            modules |= {m for m in named if not (ROOT / m).is_dir() and
                        not (path.parent / f"{m}.py").is_file()}
    owners = packages_distributions()
    found = set()
    for module in modules - set(sys.stdlib_module_names):
        assert module in owners, f"{module} is imported but no installed distribution has it"
        found |= {_name(d) for d in owners[module]}
    return found


def test_every_runtime_dependency_is_imported_by_the_service() -> None:
    assert RUNTIME - _imported_distributions("joingate", without=HARNESS) == set()


def test_the_service_imports_only_declared_runtime_dependencies() -> None:
    assert _imported_distributions("joingate", without=HARNESS) - RUNTIME == set()


def test_every_demo_extra_is_imported_by_the_harness() -> None:
    assert DEMO - _imported_distributions("joingate/testing") == set()


def test_the_harness_imports_only_runtime_dependencies_and_the_demo_extra() -> None:
    assert _imported_distributions("joingate/testing") - RUNTIME - DEMO == set()


def test_every_test_extra_is_imported_or_run() -> None:
    imported = _imported_distributions(*TEST_TREES)
    unused = {d for d in TEST - imported - set(TOOLS)}
    assert unused == set()
    for tool, (where, line) in TOOLS.items():
        assert tool in TEST, f"{tool} is listed as a tool but not declared"
        assert line in (ROOT / where).read_text(encoding="utf-8"), f"{where} no longer runs {tool}"


def test_the_tests_import_only_declared_dependencies() -> None:
    assert _imported_distributions(*TEST_TREES) - RUNTIME - DEMO - TEST == set()
