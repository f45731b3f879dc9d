"""The transparency report: what authorities asked for and what was done, per period.

One model, three renderers (as datasette hands one result to its output renderers):

    load.py      load_report(store, since, until): reads the store, calls build_report
    period.py    since/until: UTC days, both included, checked (InvalidInput naming the field)
    model.py     build_report(rows...) -> Report, the typed JSON document (pure)
    never_done.py  the statements the data backs (pure)
    render_json.py, render_markdown.py, render_html.py (+ templates/, charts.py, wording.py)

`GET /v1/report`, the /transparency page and `joingate report` all use these: the page
includes templates/body.html in its own layout, the CLI picks a renderer from RENDERERS.

What the report never publishes: an address (none is stored), a meeting name (in Jitsi a meeting
name is the meeting's address, so naming it would invite everyone in; the report counts the
meetings named instead), the text of a demand or of a decision note (they may name people).

Countries: a participant whose address the GeoIP database could not place is counted under
`ZZ` (the code CLDR uses for an unknown region).
"""

from __future__ import annotations

from collections.abc import Callable

from ..vocabulary import ReportFormat
from .model import DBIP_ATTRIBUTION, DBIP_URL, UNKNOWN_COUNTRY, Report, build_report
from .period import parse_period
from .render_html import html_context, render_html, stylesheet, templates
from .render_json import render_json
from .render_markdown import render_markdown

RENDERERS: dict[str, Callable[[Report], str]] = {
    ReportFormat.MD: render_markdown, ReportFormat.JSON: render_json,
    ReportFormat.HTML: render_html}

__all__ = ["DBIP_ATTRIBUTION", "DBIP_URL", "RENDERERS", "UNKNOWN_COUNTRY", "Report",
           "build_report", "html_context", "parse_period", "render_html", "render_json",
           "render_markdown", "stylesheet", "templates"]
