"""The bench result file every bench script writes with `--json FILE` (read by run_all.py).

    {"bench": "<script stem>", "command": "<the command line run>", "rows": [ROW, ...]}

ROW is {"what", "floor", "result", "target"}: `floor` names the floor and what is warm,
`result` carries the figures and the ratio.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

Row = dict[str, str]


def add_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, metavar="FILE",
                        help="also write the rows as JSON to FILE (the format run_all.py reads)")


def row(what: str, floor: str, result: str, target: str) -> Row:
    return {"what": what, "floor": floor, "result": result, "target": target}


def write(path: Path | None, rows: list[Row]) -> None:
    """Write the result file when `--json` was given; the command is this process's own."""
    if path is None:
        return
    script = Path(sys.argv[0])
    command = shlex.join(["python", f"bench/{script.name}", *sys.argv[1:]])
    doc = {"bench": script.stem, "command": command, "rows": rows}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
