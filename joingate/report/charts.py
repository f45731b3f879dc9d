"""The report's two bar charts as geometry (the SVG markup is templates/report/_chart.html).

Horizontal stacked bars, one row per label, one segment per series; a segment wide enough for
its number shows it, and every row ends with its total. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import wording as w
from .model import Report

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
COLOURS = {"refused": "#D55E00", "removed": "#0072B2", "complied": "#D55E00",
           "partially": "#E69F00", "refused_request": "#009E73", "undecided": "#6E6E6E"}
LABELS = {"refused": "Refused entry", "removed": "Removed",
          "complied": "Complied", "partially": "Partially complied",
          "refused_request": "Request refused", "undecided": "Undecided"}
_LABEL_W, _BAR_W, _ROW_H, _GAP, _TOP = 220, 460, 28, 10, 44


@dataclass(frozen=True, slots=True)
class Key:
    x: int
    fill: str
    label: str


@dataclass(frozen=True, slots=True)
class Segment:
    """One series' part of a bar; `shows_value`: wide enough to print its number at text_x."""
    x: float
    width: float  # drawn at least 1.5 wide, so a small count stays visible
    fill: str
    title: str
    value: int
    text_x: float
    text_fill: str
    shows_value: bool


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    y: int
    text_y: float
    segments: tuple[Segment, ...]
    total: int
    total_x: float


@dataclass(frozen=True, slots=True)
class Chart:
    id: str
    title: str
    desc: str
    width: int
    height: int
    legend: tuple[Key, ...]
    bars: tuple[Bar, ...]
    label_x: int = _LABEL_W - 8  # where the labels end (right-aligned)
    bar_height: int = _ROW_H


def _text_colour(fill: str) -> str:
    # Black or white, whichever keeps the number above 4.5:1 contrast on its bar.
    return "#FFFFFF" if fill in ("#0072B2", "#6E6E6E") else "#000000"


def bar_chart(chart_id: str, title: str, desc: str, rows: Sequence[tuple[str, list[int]]],
              series: Sequence[str]) -> Chart:
    biggest = max((sum(values) for _, values in rows), default=0) or 1
    legend, x = [], 0
    for key in series:
        legend.append(Key(x, COLOURS[key], LABELS[key]))
        x += 34 + 8 * len(LABELS[key])
    bars = []
    for i, (label, values) in enumerate(rows):
        y = _TOP + i * (_ROW_H + _GAP)
        segments, offset = [], float(_LABEL_W)
        for key, value in zip(series, values, strict=True):
            if value <= 0:
                continue
            width = _BAR_W * value / biggest
            segments.append(Segment(
                offset, max(width, 1.5), COLOURS[key], f"{label}: {value} {LABELS[key].lower()}",
                value, offset + width / 2, _text_colour(COLOURS[key]),
                width >= 9 * len(str(value)) + 6))
            offset += width
        bars.append(Bar(label, y, y + _ROW_H / 2 + 5, tuple(segments), sum(values), offset + 6))
    return Chart(chart_id, title, desc, _LABEL_W + _BAR_W + 70,
                 _TOP + len(rows) * (_ROW_H + _GAP) + 6, tuple(legend), tuple(bars))


def participants_chart(report: Report) -> Chart | None:
    rows = [(w.country(code), [refused, removed])
            for code, refused, removed in w.country_rows(report)]
    if not rows:
        return None
    return bar_chart("chart-participants", "Participants refused and removed, by country",
                     "Horizontal bars, one per country; each bar is split into participants "
                     "refused entry and participants removed from a meeting. The table below "
                     "gives the same numbers.", rows, ("refused", "removed"))


def requests_chart(report: Report) -> Chart | None:
    rows = [(w.country(code), [e["outcomes"]["complied"], e["outcomes"]["partially"],
                               e["outcomes"]["refused"], e["outcomes"]["undecided"]])
            for code, e in report["by_jurisdiction"].items() if e["requests_received"]]
    if not rows:
        return None
    return bar_chart("chart-requests", "Authority requests by jurisdiction and outcome",
                     "Horizontal bars, one per jurisdiction; each bar is split by what was "
                     "decided: complied, partially complied, refused, undecided. The table "
                     "below gives the same numbers.",
                     rows, ("complied", "partially", "refused_request", "undecided"))
