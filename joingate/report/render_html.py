"""The report as HTML, through Jinja templates (templates/, named report/*.html).

`render_html` makes the standalone document (`joingate report --format html`); the site's
transparency page includes report/body.html in its own layout, with the same `html_context`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any, ClassVar

import jinja2

from . import wording as w
from .charts import Chart, participants_chart, requests_chart
from .model import JurisdictionEntry, Report


@dataclass(frozen=True, slots=True)
class View:
    """What the templates show beside the report's own fields: the labels and sentences the
    Markdown says too (wording.py), and the charts."""

    NO_REQUEST: ClassVar[str] = w.NO_REQUEST
    NO_PARTICIPANT: ClassVar[str] = w.NO_PARTICIPANT
    NO_CORRECTION: ClassVar[str] = w.NO_CORRECTION
    NO_CHECKPOINT: ClassVar[str] = w.NO_CHECKPOINT
    SIGNED_HEAD: ClassVar[str] = w.SIGNED_HEAD
    ROTATIONS: ClassVar[str] = w.ROTATIONS
    UNSIGNED: ClassVar[str] = w.UNSIGNED

    period: str
    jurisdictions: tuple[tuple[str, JurisdictionEntry], ...]
    countries: tuple[tuple[str, int, int], ...]
    covers: str
    disputed: str
    operator_policies: str | None
    requests_chart: Chart | None
    participants_chart: Chart | None


def html_context(report: Report) -> dict[str, Any]:
    """The variables report/body.html reads."""
    view = View(
        period=w.period(report),
        jurisdictions=tuple((w.country(code), e) for code, e in report["by_jurisdiction"].items()),
        countries=tuple((w.country(code), refused, removed)
                        for code, refused, removed in w.country_rows(report)),
        covers=w.covers(report), disputed=w.disputed(report),
        operator_policies=w.operator_policies(report),
        requests_chart=requests_chart(report), participants_chart=participants_chart(report))
    return {"report": report, "view": view}


def templates() -> jinja2.BaseLoader:
    """The report's templates as report/*.html (the site's environment adds this loader)."""
    return jinja2.PrefixLoader({"report": jinja2.PackageLoader(__package__, "templates")})


# The same settings as the site's environment, so body.html renders alike in both.
_ENV = jinja2.Environment(loader=templates(), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True,
                          lstrip_blocks=True, keep_trailing_newline=True)


_CSS = resources.files(__package__) / "report.css"


def stylesheet() -> str:
    """The documents' CSS: the standalone report inlines it, the site serves it."""
    return _CSS.read_text("utf-8")


def render_html(report: Report, stylesheet: str | None = None) -> str:
    """A standalone HTML document: the styles inline (report.css unless given), no script,
    nothing loaded from elsewhere."""
    css = _CSS.read_text("utf-8") if stylesheet is None else stylesheet
    return _ENV.get_template("report/document.html").render(stylesheet=css, **html_context(report))
