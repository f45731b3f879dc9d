"""The charts' geometry (charts.py), apart from the SVG the template draws from it."""

from __future__ import annotations

from joingate.report.charts import bar_chart


def test_bars_scale_to_the_biggest_row_and_small_counts_stay_visible() -> None:
    chart = bar_chart("c", "t", "d", [("A", [300, 100]), ("B", [1, 0])], ("refused", "removed"))
    a, b = chart.bars
    assert [s.value for s in a.segments] == [300, 100] and a.total == 400
    # The biggest row fills the bar area; its segments follow one another.
    assert a.segments[0].x == 220 and a.segments[1].x == 220 + a.segments[0].width
    assert a.segments[0].width + a.segments[1].width == 460
    # A count of 1 among 400 is drawn 1.5 wide, too narrow to print its number; its row's
    # total still is, and a zero makes no segment.
    (sliver,) = b.segments
    assert sliver.width == 1.5 and not sliver.shows_value and b.total == 1
    assert b.y > a.y and chart.height > b.y + chart.bar_height
    # Numbers on the blue bar are white, on the orange one black (contrast above 4.5:1).
    assert (a.segments[0].text_fill, a.segments[1].text_fill) == ("#000000", "#FFFFFF")


def test_no_rows_no_division_by_zero() -> None:
    chart = bar_chart("c", "t", "d", [("A", [0, 0])], ("refused", "removed"))
    assert chart.bars[0].segments == () and chart.bars[0].total == 0
