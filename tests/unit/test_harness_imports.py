"""joingate.testing, the harness `joingate demo`, bench/ and the tests share, is part of the
package: nothing in joingate/ imports tests/, and the service's own modules do not import the
harness (nor its demo extra)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ["joingate.testing.geodb", "joingate.testing.prosody",
           "joingate.testing.prosody_install", "joingate.testing.service",
           "joingate.testing.xmpp"]


def _loaded_after(*modules: str) -> set[str]:
    """The modules a fresh interpreter has loaded after importing `modules`, run from the
    checkout so that tests/ would be importable."""
    code = ("import importlib, json, sys\n"
            f"for name in {modules!r}: importlib.import_module(name)\n"
            "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    return set(json.loads(done.stdout))


def test_no_module_of_the_package_imports_tests() -> None:
    importers = []
    for path in (ROOT / "joingate").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 \
                else []
            if any(n == "tests" or n.startswith("tests.") for n in names):
                importers.append(str(path.relative_to(ROOT)))
    assert importers == []


def test_the_demo_and_the_harness_load_nothing_from_tests() -> None:
    loaded = _loaded_after("joingate.cli", "joingate.demo", *HARNESS)
    assert set(HARNESS) <= loaded
    assert {m for m in loaded if m == "tests" or m.startswith("tests.")} == set()


def test_the_service_loads_neither_the_harness_nor_the_demo_extra() -> None:
    loaded = _loaded_after("joingate.cli", "joingate.api.app", "joingate.demo")
    assert {m for m in loaded if m.startswith("joingate.testing")} == set()
    assert {"slixmpp", "mmdb_writer", "netaddr"} & loaded == set()
