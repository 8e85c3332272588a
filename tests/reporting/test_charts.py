"""The time series chart's geometry (reporting/charts.py): slots zero-filled across clock changes,
points and ticks inside the plot, round axis steps, the comparison series, gaps and empty data."""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reporting import charts
from reporting.query import Row, Totals

NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
KOLKATA = zoneinfo.ZoneInfo("Asia/Kolkata")
LATER = datetime(2030, 1, 1, tzinfo=UTC)  # "now" after every slot of these tests
USD = 1_000_000


def coordinates(path: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"[ML](-?[\d.]+),(-?[\d.]+)", path)]


def series(values: list[int | float | None], start: date = date(2026, 3, 1)) -> charts.Series:
    return charts.Series(charts.day_slots(start, start + timedelta(days=len(values) - 1)), tuple(values))


def chart(current: list, previous: list | None = None, metric: str = "spend", grain: str = "day"):
    return charts.time_chart(
        metric,
        series(current),
        series(previous, date(2026, 2, 1)) if previous is not None else None,
        currency="USD",
        zone=NEW_YORK,
        grain=grain,
    )


# Slots ---------------------------------------------------------------------------------------------


def test_day_slots_include_both_ends() -> None:
    assert charts.day_slots(date(2026, 2, 27), date(2026, 3, 2)) == (
        date(2026, 2, 27),
        date(2026, 2, 28),
        date(2026, 3, 1),
        date(2026, 3, 2),
    )


def test_hour_slots_follow_the_advertisers_clock() -> None:
    assert len(charts.hour_slots(date(2026, 3, 7), date(2026, 3, 7), NEW_YORK)) == 24
    assert len(charts.hour_slots(date(2026, 3, 8), date(2026, 3, 8), NEW_YORK)) == 23  # clocks go forward
    assert len(charts.hour_slots(date(2026, 11, 1), date(2026, 11, 1), NEW_YORK)) == 25  # and back
    first = charts.hour_slots(date(2026, 3, 7), date(2026, 3, 7), NEW_YORK)[0]
    assert first == datetime(2026, 3, 7, 5, tzinfo=UTC)  # local midnight
    # Half an hour off UTC: the rollups' UTC hours, the first starting at 23:30 the evening before.
    kolkata = charts.hour_slots(date(2026, 3, 7), date(2026, 3, 7), KOLKATA)
    assert len(kolkata) == 25
    assert kolkata[0].astimezone(KOLKATA).strftime("%d %H:%M") == "06 23:30"


def test_fill_zero_fills_missing_slots() -> None:
    days = charts.day_slots(date(2026, 3, 1), date(2026, 3, 4))
    rows = [
        Row((date(2026, 3, 2),), Totals(impressions=10, clicks=2, spend_micros=3 * USD)),
        Row((date(2026, 3, 4),), Totals(credit_micros=USD)),
    ]
    assert charts.fill(rows, days, "spend", now=LATER, zone=NEW_YORK).values == (0, 3 * USD, 0, -USD)
    assert charts.fill(rows, days, "impressions", now=LATER, zone=NEW_YORK).values == (0, 10, 0, 0)
    # A rate with nothing to divide by is no value, not zero.
    assert charts.fill(rows, days, "ctr", now=LATER, zone=NEW_YORK).values == (None, 0.2, None, None)


def test_fill_matches_hours_by_instant_and_leaves_the_future_empty() -> None:
    hours = charts.hour_slots(date(2026, 3, 7), date(2026, 3, 7), NEW_YORK)
    ten = datetime(2026, 3, 7, 10, tzinfo=NEW_YORK)  # as query.run gives them: in the account's zone
    rows = [Row((ten,), Totals(clicks=4))]
    now = datetime(2026, 3, 7, 12, 30, tzinfo=NEW_YORK)
    values = charts.fill(rows, hours, "clicks", now=now, zone=NEW_YORK).values
    assert values[10] == 4
    assert values[:10] == (0,) * 10 and values[11:13] == (0, 0)  # 12:00 has begun: zero so far
    assert values[13:] == (None,) * 11  # still to come
    days = charts.day_slots(date(2026, 3, 6), date(2026, 3, 8))
    assert charts.fill([], days, "clicks", now=now, zone=NEW_YORK).values == (0, 0, None)


# Geometry --------------------------------------------------------------------------------------------


def test_points_and_ticks_are_inside_the_plot() -> None:
    drawn = chart([0, 5 * USD, 2 * USD, 7 * USD], [USD, 0, 3 * USD, 2 * USD])
    for line in drawn.lines:
        points = coordinates(line.path)
        assert len(points) == 4
        assert all(0 <= x <= 100 and 0 <= y <= 100 for x, y in points)
        assert all(0 <= m.x <= 100 and 0 <= m.y <= 100 for m in line.markers)
    assert [x for x, _ in coordinates(drawn.lines[0].path)] == [0, 33.33, 66.67, 100]
    assert all(0 <= tick.at <= 100 for tick in (*drawn.x_ticks, *drawn.y_ticks))
    # The highest point is at most the top of the axis; zero is its bottom.
    assert drawn.y_ticks[0].at == 100 and drawn.y_ticks[0].label == "$0"
    assert [tick.label for tick in drawn.y_ticks] == ["$0", "$2", "$4", "$6", "$8"]
    assert [tick.at for tick in drawn.y_ticks] == [100, 75, 50, 25, 0]
    assert coordinates(drawn.lines[0].path)[3] == (100, 12.5)  # $7 of $8


def test_one_slot_is_drawn_in_the_middle() -> None:
    drawn = chart([3 * USD])
    assert coordinates(drawn.lines[0].path)[0][0] == 50


@given(
    st.lists(st.one_of(st.none(), st.integers(-(10**9), 10**12)), min_size=1, max_size=60),
    st.sampled_from(["spend", "impressions", "cpa"]),
)
def test_any_series_stays_inside_the_plot(values: list[int | None], metric: str) -> None:
    drawn = chart(values, list(reversed(values)), metric=metric)
    for line in drawn.lines:
        assert all(0 <= x <= 100 and 0 <= y <= 100 for x, y in coordinates(line.path))
    levels = [tick.at for tick in drawn.y_ticks]
    assert levels == sorted(levels, reverse=True) and 2 <= len(levels) <= 12
    assert all(0 <= level <= 100 for level in levels)


def test_ratio_and_count_ticks() -> None:
    ctr = chart([0.012, 0.031, None], metric="ctr")
    assert [tick.label for tick in ctr.y_ticks] == ["0%", "1%", "2%", "3%", "4%"]
    counts = chart([0, 3, 1], metric="clicks")
    assert [tick.label for tick in counts.y_ticks] == ["0", "1", "2", "3"]  # whole clicks only
    big = chart([0, 1_234_567], metric="impressions")
    assert big.y_ticks[-1].label in ("1.4M", "1.5M")
    roas = chart([0.5, 2.25], metric="roas")
    assert roas.y_ticks[-1].label.endswith("\u00d7")


def test_negative_spend_takes_the_axis_below_zero() -> None:
    drawn = chart([2 * USD, -USD, 0])  # an hour of credits only: net spend below zero
    labels = [tick.label for tick in drawn.y_ticks]
    assert labels[0].startswith("-") and "$0" in labels
    assert all(0 <= y <= 100 for _, y in coordinates(drawn.lines[0].path))


def test_x_ticks_are_few_and_labelled() -> None:
    month = chart([1] * 30)
    assert 4 <= len(month.x_ticks) <= charts.MAX_X_TICKS
    assert month.x_ticks[0].label == "1 Mar" and month.x_ticks[0].at == 0
    hours = charts.hour_slots(date(2026, 3, 7), date(2026, 3, 7), NEW_YORK)
    labels = [label for _, label in charts.x_ticks(hours, "hour", NEW_YORK)]
    assert labels == ["00:00", "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00"]
    week = charts.hour_slots(date(2026, 3, 1), date(2026, 3, 7), NEW_YORK)
    labels = [label for _, label in charts.x_ticks(week, "hour", NEW_YORK)]
    assert labels == ["1 Mar", "2 Mar", "3 Mar", "4 Mar", "5 Mar", "6 Mar", "7 Mar"]
    two_days = charts.hour_slots(date(2026, 3, 1), date(2026, 3, 2), NEW_YORK)
    labels = [label for _, label in charts.x_ticks(two_days, "hour", NEW_YORK)]
    assert labels[:5] == ["1 Mar", "06:00", "12:00", "18:00", "2 Mar"]


def test_markers_are_thinned_on_long_series() -> None:
    drawn = chart([1] * 90)
    assert len(drawn.lines[0].markers) <= charts.MAX_MARKERS + 1
    assert drawn.lines[0].markers[-1].x == 100  # the last point is always marked
    assert len(chart([1] * 7).lines[0].markers) == 7


# The comparison period ------------------------------------------------------------------------------


def test_the_comparison_is_a_second_line_of_other_markers() -> None:
    drawn = chart([USD, 2 * USD, 3 * USD], [3 * USD, 2 * USD, USD])
    current, previous = drawn.lines
    assert (current.key, current.marker_shape) == ("current", "circle")
    assert (previous.key, previous.marker_shape) == ("previous", "square")
    # Slot by slot on the same x: the comparison's first day above this period's first day.
    assert [x for x, _ in coordinates(current.path)] == [x for x, _ in coordinates(previous.path)]
    assert coordinates(previous.path)[0][1] == coordinates(current.path)[2][1]
    assert "Sun 1 Feb 2026: $3.00" in previous.markers[0].text
    assert "Comparison period (dashed line, square markers): highest $3.00" in drawn.summary


def test_a_comparison_of_another_length_is_cut_or_stops() -> None:
    longer = chart([USD, USD], [USD, USD, 9 * USD, 9 * USD])
    assert len(coordinates(longer.lines[1].path)) == 2  # its extra days are not drawn...
    assert longer.y_ticks[-1].label == "$1"  # ...nor do they stretch the axis
    shorter = chart([USD, USD, USD, USD], [USD])
    assert len(coordinates(shorter.lines[1].path)) == 1


def test_gaps_break_the_line() -> None:
    drawn = chart([0.1, None, 0.2, 0.3], metric="ctr")
    assert drawn.lines[0].path.count("M") == 2
    assert len(coordinates(drawn.lines[0].path)) == 3


# Empty data ------------------------------------------------------------------------------------------


def test_an_empty_chart_is_flat_at_zero_on_a_nominal_axis() -> None:
    drawn = chart([0, 0, 0], [0, 0, 0])
    assert drawn.empty
    assert all(y == 100 for line in drawn.lines for _, y in coordinates(line.path))
    assert drawn.y_ticks[0].label == "$0" and len(drawn.y_ticks) >= 2
    assert "This period (solid line, round markers): no spend." in drawn.summary
    rates = chart([None, None], [None, None], metric="ctr")
    assert rates.empty and rates.lines[0].path == "" and rates.lines[0].markers == ()


def test_no_slots_at_all_draws_nothing() -> None:
    drawn = charts.time_chart(
        "spend", charts.Series((), ()), None, currency="USD", zone=NEW_YORK, grain="day"
    )
    assert drawn.empty and drawn.lines[0].path == "" and drawn.x_ticks == ()


@pytest.mark.parametrize(
    ("low", "high", "integer", "expected"),
    [
        (0, 7, True, (0, 8, 2)),
        (0, 3, True, (0, 3, 1)),
        (0, 100, True, (0, 100, 25)),
        (0, 0.031, False, (0, 0.04, 0.01)),
        (-1, 2, True, (-1, 2, 1)),
        (0, 0, True, (0, 10, 5)),  # nothing to draw: the nominal top
    ],
)
def test_scale_steps_are_round(low, high, integer, expected) -> None:
    bottom, top, step = charts.scale(low, high, integer=integer, empty_top=10)
    assert (bottom, top, step) == pytest.approx(expected)
