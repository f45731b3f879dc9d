"""Fail unless every selected test suite ran tests and none was skipped (reads pytest's JUnit
XML).

`check_suites.py JUNIT[,JUNIT...] [PYTEST_ARGS...]`: the suites selected are those the path
arguments among PYTEST_ARGS name (`tests/prosody`, `tests/unit/test_geo.py::test_x`, `tests`),
or every suite when no argument is a path. Each selected suite must have run at least one test:
a suite whose tests were all deselected (`-k`, `-m`) or never collected fails the run too. The
Prosody suite must have run on each Prosody in PROSODY: the "prosody" property of a file's test
suite (written by tests/prosody/conftest.py) names the version its tests ran on.

`check_suites.py --selects SUITE [PYTEST_ARGS...]` exits 0 when the arguments select SUITE.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

SUITES = ("tests.unit", "tests.integration", "tests.prosody", "tests.web", "tests.report",
          "tests.property", "tests.fuzz", "tests.test_privacy_scan")
PROSODY = ("0.12", "13")
ROOT = Path(__file__).resolve().parent.parent


def selected(args: list[str]) -> list[str]:
    """The suites the pytest arguments select (options and their values are not paths)."""
    chosen: list[str] = []
    any_path = False
    for arg in args:
        path = Path(arg.split("::", 1)[0])
        if arg.startswith("-") or not (ROOT / path).exists():
            continue
        any_path = True
        dotted = ".".join((ROOT / path).resolve().relative_to(ROOT).with_suffix("").parts)
        chosen += [s for s in SUITES if s == dotted or s.startswith(dotted + ".")
                   or dotted.startswith(s + ".")]
    return list(dict.fromkeys(chosen)) if any_path else list(SUITES)


def series(version: str) -> str:
    """"0.12.3" -> "0.12", "13.0.1" -> "13" (how Prosody names its releases)."""
    parts = version.split(".")
    return ".".join(parts[:2] if parts[0] == "0" else parts[:1])


def required(suites: list[str]) -> list[str]:
    """The runs that must have tests: the Prosody suite once per Prosody."""
    return [name for s in suites for name in
            ([f"tests.prosody on Prosody {v}" for v in PROSODY] if s == "tests.prosody" else [s])]


def main(paths: list[str], args: list[str]) -> int:
    wanted = required(selected(args))
    ran: Counter[str] = Counter()
    skipped = 0
    for path in paths:
        for testsuite in ET.parse(path).getroot().iter("testsuite"):
            version = next((p.get("value", "") for p in testsuite.findall("properties/property")
                            if p.get("name") == "prosody"), "")
            for case in testsuite.iter("testcase"):
                name = case.get("classname", "")
                suite = next((s for s in SUITES if name == s or name.startswith(s + ".")), None)
                if suite == "tests.prosody":
                    suite = f"tests.prosody on Prosody {series(version) or '(unknown)'}"
                if suite:
                    ran[suite] += 1
                skipped += case.find("skipped") is not None
    missing = [s for s in wanted if ran[s] == 0]
    for suite in wanted:
        print(f"suite {suite}: {ran[suite]} tests")
    if missing or skipped:
        print(f"check_suites: no tests ran in {', '.join(missing) or '-'}; {skipped} skipped",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: check_suites.py JUNIT[,JUNIT...] [PYTEST_ARGS...]", file=sys.stderr)
        sys.exit(2)
    if sys.argv[1] == "--selects":
        sys.exit(0 if sys.argv[2] in selected(sys.argv[3:]) else 1)
    sys.exit(main(sys.argv[1].split(","), sys.argv[2:]))
