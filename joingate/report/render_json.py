"""The report as JSON: the document `GET /v1/report` serves and `joingate report --json`
prints (the contract's fields, extended, never renamed)."""

from __future__ import annotations

import json

from .model import Report


def render_json(report: Report) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"
