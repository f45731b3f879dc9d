"""Fail unless every selected test suite ran tests and none was skipped (reads pytest's JUnit
XML).

`check_suites.py JUNIT [PYTEST_ARGS...]`: the suites selected are those the path arguments
among PYTEST_ARGS name (`tests/prosody`, `tests/unit/test_geo.py::test_x`, `tests`), or every
suite when no argument is a path. Each selected suite must have run at least one test: a suite
whose tests were all deselected (`-k`, `-m`) or never collected fails the run too.
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

SUITES = ("tests.unit", "tests.integration", "tests.prosody", "tests.web", "tests.report",
          "tests.property", "tests.fuzz", "tests.test_privacy_scan")
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


def main(path: str, args: list[str]) -> int:
    suites = selected(args)
    ran: Counter[str] = Counter()
    skipped = 0
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("classname", "")
        suite = next((s for s in SUITES if name == s or name.startswith(s + ".")), None)
        if suite:
            ran[suite] += 1
        skipped += case.find("skipped") is not None
    missing = [s for s in suites if ran[s] == 0]
    for suite in suites:
        print(f"suite {suite}: {ran[suite]} tests")
    if missing or skipped:
        print(f"check_suites: no tests ran in {', '.join(missing) or '-'}; {skipped} skipped",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
