"""Fail unless every test suite ran tests and none was skipped (reads pytest's JUnit XML)."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from collections import Counter

SUITES = ("tests.unit", "tests.integration", "tests.prosody", "tests.web", "tests.report",
          "tests.property", "tests.fuzz", "tests.test_privacy_scan")


def main(path: str) -> int:
    ran: Counter[str] = Counter()
    skipped = 0
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("classname", "")
        suite = next((s for s in SUITES if name == s or name.startswith(s + ".")), None)
        if suite:
            ran[suite] += 1
        skipped += case.find("skipped") is not None
    missing = [s for s in SUITES if ran[s] == 0]
    for suite in SUITES:
        print(f"suite {suite}: {ran[suite]} tests")
    if missing or skipped:
        print(f"check_suites: no tests ran in {', '.join(missing) or '-'}; {skipped} skipped",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
