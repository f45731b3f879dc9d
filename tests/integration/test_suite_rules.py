"""The suite's own rules hold: in a strict run a skipped test, a skipped module and an xfail that
passes all fail, and scripts/check_suites.py fails a run in which a selected suite ran no test,
or the Prosody suite did not run on both Prosody 0.12 and 13. Each rule is tried on a throw-away
test module in a pytest subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.check_suites import SUITES, main, selected

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

MODULES = {
    "module_skip": "import pytest\npytest.importorskip('joingate_no_such_module')\n"
                   "def test_x():\n    pass\n",
    "test_skip": "import pytest\ndef test_x():\n    pytest.skip('not today')\n",
    "xfail_passes": "import pytest\n@pytest.mark.xfail(reason='expected to fail')\n"
                    "def test_x():\n    pass\n",
}


def strict_pytest(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """pytest with this repo's settings and suite-wide hooks on a throw-away module, next to
    one whose test passes (as in a real run, where other tests do run)."""
    module = tmp_path / "test_throwaway.py"
    module.write_text(source)
    (tmp_path / "test_runs.py").write_text("def test_runs():\n    assert True\n")
    env = {**os.environ, "JOINGATE_STRICT_TESTS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"), "--rootdir",
         str(tmp_path), "-p", "tests.conftest", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("kind", sorted(MODULES))
def test_a_strict_run_fails_on_anything_not_run(tmp_path: Path, kind: str) -> None:
    done = strict_pytest(tmp_path, MODULES[kind])
    assert done.returncode in (1, 2), done.stdout  # tests failed / collection failed


def test_a_strict_run_passes_a_test_that_ran(tmp_path: Path) -> None:
    done = strict_pytest(tmp_path, "def test_x():\n    assert True\n")
    assert done.returncode == 0, done.stdout


def test_the_gate_checks_the_suites_the_arguments_select() -> None:
    assert selected([]) == list(SUITES)
    assert selected(["-q", "-k", "geo"]) == list(SUITES)
    assert selected(["tests"]) == list(SUITES)
    assert selected(["tests/prosody", "-x"]) == ["tests.prosody"]
    assert selected(["tests/unit/test_geo.py::test_x", "-m", "integration",
                     "tests/test_privacy_scan.py"]) == ["tests.unit", "tests.test_privacy_scan"]


def junit(tmp_path: Path, *cases: tuple[str, bool], prosody: str | None = None,
          name: str = "junit.xml") -> str:
    """A JUnit file with one testcase per (classname, skipped), from a run on `prosody`."""
    props = (f'<properties><property name="prosody" value="{prosody}" /></properties>'
             if prosody else "")
    body = "".join(f'<testcase classname="{classname}" name="t">'
                   f'{"<skipped/>" if skipped else ""}</testcase>' for classname, skipped in cases)
    path = tmp_path / name
    path.write_text(f'<testsuites><testsuite name="pytest">{props}{body}</testsuite>'
                    "</testsuites>")
    return str(path)


def test_the_gate_fails_a_selected_suite_that_ran_nothing(tmp_path: Path) -> None:
    ran_unit = junit(tmp_path, ("tests.unit.test_geo", False))
    assert main([ran_unit], ["tests/unit"]) == 0
    assert main([ran_unit], ["tests/unit", "tests/prosody"]) == 1  # tests/prosody ran nothing
    assert main([ran_unit], []) == 1  # a whole run ran one suite only
    assert main([junit(tmp_path, ("tests.unit.test_geo", True))], ["tests/unit"]) == 1  # skipped


def test_the_gate_wants_the_prosody_suite_on_both_prosodies(tmp_path: Path) -> None:
    others = [(f"{suite}.test_x", False) for suite in SUITES if suite != "tests.prosody"]
    gate = ("tests.prosody.test_gate", False)
    whole = junit(tmp_path, *others, gate, prosody="0.12.3")
    again = junit(tmp_path, gate, prosody="13.0.1", name="junit-prosody13.xml")
    assert main([whole, again], []) == 0
    assert main([whole, again], ["tests/prosody/test_gate.py"]) == 0
    assert main([whole], []) == 1  # no run on 13
    assert main([whole], ["tests/prosody"]) == 1
    assert main([whole], ["tests/unit"]) == 0  # the Prosody suite was not selected
    twice = junit(tmp_path, gate, prosody="0.12.3", name="twice.xml")
    assert main([whole, twice], []) == 1  # two runs, both on 0.12
    unnamed = junit(tmp_path, *others, gate, name="unnamed.xml")
    assert main([unnamed, again], []) == 1  # a Prosody run that does not say which
    skipped = junit(tmp_path, (gate[0], True), prosody="13.0.1", name="skipped.xml")
    assert main([whole, skipped], []) == 1


def test_test_sh_asks_whether_the_prosody_suite_is_selected() -> None:
    def selects(*args: str) -> bool:
        done = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_suites.py"),
                               "--selects", "tests.prosody", *args], timeout=30)
        return done.returncode == 0
    assert selects() and selects("-x") and selects("tests/prosody/test_gate.py")
    assert not selects("tests/unit", "-q")
