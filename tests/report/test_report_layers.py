"""`joingate report` renders every format without the web layer: the report package is one
model and its renderers, and the CLI reaches it without importing joingate.web or aiohttp."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import json, sys
from joingate.cli import main
for fmt in ("md", "json", "html"):
    main(["report", "--format", fmt], standalone_mode=False)
    print("\\n--8<--")
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def test_cli_renders_every_format_without_the_web_layer(tmp_path: Path) -> None:
    env = {**os.environ, "JOINGATE_STORE_URL": f"sqlite:///{tmp_path / 'db'}"}
    env.pop("JOINGATE_CONFIG", None)
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    md, doc, html, _ = done.stdout.split("\n--8<--\n")
    assert md.startswith("# Transparency report")
    assert json.loads(doc)["accounts_suspended"] == 0
    assert html.startswith("<!doctype html>") and "<style>" in html
    loaded = json.loads(done.stderr.strip().splitlines()[-1])
    shells = [m for m in loaded if m.startswith(("joingate.web", "joingate.api", "aiohttp"))]
    assert shells == []
