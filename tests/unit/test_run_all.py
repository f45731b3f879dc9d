"""bench/run_all.py, run as a command on a bench folder of its own in a temporary directory:
the table comes from the saved results, a run saves its bench's rows with date and load, and a
missing script, tool or result fails the run, naming it."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN_ALL = REPO / "bench" / "run_all.py"
_spec = importlib.util.spec_from_file_location("run_all", RUN_ALL)
assert _spec is not None and _spec.loader is not None
run_all = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("run_all", run_all)  # dataclasses look their module up there
_spec.loader.exec_module(run_all)
NAMES: list[str] = run_all.NAMES

PROSE_BEFORE = "# Benchmarks\n\nHand-written words before the table.\n\n"
PROSE_AFTER = "\n## How each is measured\n\nHand-written words after it.\n"
STAND_IN = """import argparse, json, sys
parser = argparse.ArgumentParser()
parser.add_argument("--json")
parser.add_argument("--fail", action="store_true")
args = parser.parse_args()
if "{mode}" == "crash":
    sys.exit(3)
json.dump({{"bench": "{name}", "command": "python bench/{name}.py --json " + args.json,
           "rows": [{{"what": "{name} figure", "floor": "a floor | warm",
                      "result": "1.00x", "target": "<= 2x"}}]}}, open(args.json, "w"))
sys.exit(2 if "{mode}" == "fail" else 0)
"""


def bench_folder(tmp_path: Path, scripts: list[str]) -> Path:
    """A bench folder with run_all.py, a README with the markers and the given scripts."""
    bench = tmp_path / "bench"
    bench.mkdir()
    shutil.copy(RUN_ALL, bench / "run_all.py")
    (bench / "README.md").write_text(
        f"{PROSE_BEFORE}{run_all.BEGIN}\nold table\n{run_all.END}\n{PROSE_AFTER}")
    for name in scripts:
        (bench / f"{name}.py").write_text(STAND_IN.format(name=name, mode="ok"))
    return bench


def saved(bench: Path, name: str, **extra: object) -> None:
    results = bench / "results"
    results.mkdir(exist_ok=True)
    doc = {"bench": name, "command": f"python bench/{name}.py --seconds 5 --json /tmp/x.json",
           "rows": [{"what": f"{name} row", "floor": "the floor | warm", "result": "0.90x",
                     "target": ">= 0.85x"}],
           "date": "2026-12-03 10:00 UTC", "load_start": "1.00 2.00 3.00",
           "load_end": "4.00 5.00 6.00", "exit": 0, "seconds": 5, "commit": "07c45e1"}
    doc.update(extra)
    (results / f"{name}.json").write_text(json.dumps(doc))


def run(bench: Path, *args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path} if path is not None else None
    return subprocess.run([sys.executable, str(bench / "run_all.py"), *args], cwd=bench.parent,
                          capture_output=True, text=True, timeout=60, env=env)


def table_rows(bench: Path) -> list[str]:
    text = (bench / "README.md").read_text()
    assert text.startswith(PROSE_BEFORE + run_all.BEGIN)
    assert text.endswith(run_all.END + "\n" + PROSE_AFTER)
    return [line for line in text.splitlines() if line.startswith("| ")][2:]


def test_table_from_saved_results_in_bench_order(tmp_path: Path) -> None:
    bench = bench_folder(tmp_path, NAMES)
    for name in reversed(NAMES):
        saved(bench, name)
    done = run(bench, "--table-only")
    assert done.returncode == 0, done.stderr
    rows = table_rows(bench)
    assert [row.split(" | ")[0] for row in rows] == [f"| {name} row" for name in NAMES]
    assert rows[0] == (
        f"| {NAMES[0]} row | `python bench/{NAMES[0]}.py --seconds 5` | the floor \\| warm | "
        "0.90x | >= 0.85x | 2026-12-03 10:00 UTC, 07c45e1 | 1.00 2.00 3.00 -> 4.00 5.00 6.00 |")
    assert "old table" not in (bench / "README.md").read_text()


def test_a_bench_without_a_saved_result_is_a_row_and_a_failure(tmp_path: Path) -> None:
    bench = bench_folder(tmp_path, NAMES)
    for name in NAMES:
        if name != "bench_storm":
            saved(bench, name, **({"exit": 1} if name == "soak" else {}))
    done = run(bench, "--table-only")
    assert done.returncode == 1
    assert "bench_storm has no saved result" in done.stderr
    rows = table_rows(bench)
    assert len(rows) == len(NAMES)
    assert "| bench_storm | `python bench/bench_storm.py` | — | **not run: no saved result**" \
        in rows[NAMES.index("bench_storm")]
    assert "| **exit status 1**: 0.90x |" in rows[NAMES.index("soak")]


def test_a_missing_script_fails_before_anything_runs(tmp_path: Path) -> None:
    bench = bench_folder(tmp_path, [n for n in NAMES if n != "bench_storm"])
    done = run(bench)
    assert done.returncode == 1
    assert "missing, nothing run: bench/bench_storm.py" in done.stderr
    assert not (bench / "results").exists()
    assert "old table" in (bench / "README.md").read_text()


def test_a_missing_tool_fails_before_anything_runs(tmp_path: Path) -> None:
    bench = bench_folder(tmp_path, NAMES)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    done = run(bench, "--only", "bench_authorize", "bench_decide", path=str(empty))
    assert done.returncode == 1
    assert "wrk (for bench_authorize)" in done.stderr
    assert not (bench / "results").exists()


def test_a_run_saves_rows_with_date_and_load_and_keeps_a_crashed_benchs_old_result(
        tmp_path: Path) -> None:
    bench = bench_folder(tmp_path, NAMES)
    for name in NAMES:
        saved(bench, name)
    (bench / "bench_merkle.py").write_text(STAND_IN.format(name="bench_merkle", mode="crash"))
    (bench / "bench_decide.py").write_text(STAND_IN.format(name="bench_decide", mode="fail"))
    done = run(bench, "--only", "bench_scale", "bench_merkle", "bench_decide")
    assert done.returncode == 1
    assert "bench_merkle exited 3 and wrote no result file" in done.stderr
    assert "bench_decide exited 2" in done.stderr
    fresh = json.loads((bench / "results" / "bench_scale.json").read_text())
    assert fresh["exit"] == 0 and fresh["date"] != "2026-12-03 10:00 UTC"
    assert fresh["commit"] == ""  # the temporary folder is no git checkout
    assert len(fresh["load_start"].split()) == 3 and len(fresh["load_end"].split()) == 3
    assert fresh["rows"][0]["what"] == "bench_scale figure"
    kept = json.loads((bench / "results" / "bench_merkle.json").read_text())
    assert kept["rows"][0]["what"] == "bench_merkle row"
    rows = table_rows(bench)
    scale = rows[NAMES.index("bench_scale")]
    assert scale.startswith("| bench_scale figure | `python bench/bench_scale.py` | a floor \\| "
                            "warm | 1.00x | <= 2x | ")
    assert "| **exit status 2**: 1.00x |" in rows[NAMES.index("bench_decide")]

