"""Bar charts drawn on the server as SVG geometry: they need no script and no network."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

WIDTH, HEIGHT, AXIS = 600, 120, 18  # SVG user units; the CSS scales the chart to fit


@dataclass(frozen=True)
class Bar:
    """One bar: its box, and what it counts (for the tooltip and the table)."""

    x: float
    y: float
    width: float
    height: float
    start: datetime
    count: int


@dataclass(frozen=True)
class Chart:
    """A chart's bars, axis labels and one sentence that says what it shows."""

    bars: list[Bar]
    ticks: list[tuple[float, str]]
    peak: int
    total: int
    summary: str
    width: int = WIDTH
    height: int = HEIGHT + AXIS
    plot_height: int = HEIGHT


def bar_chart(
    counts: Mapping[datetime, int],
    start: datetime,
    step: timedelta,
    n: int,
    tick_every: int,
    tick_format: str,
    what: str,
) -> Chart:
    """``n`` bars of ``step`` from ``start`` (missing buckets count 0), a tick every
    ``tick_every`` bars, and a summary sentence naming ``what`` is counted."""
    values = [(start + k * step, counts.get(start + k * step, 0)) for k in range(n)]
    peak = max((count for _, count in values), default=0)
    slot = WIDTH / n
    bars = []
    for k, (moment, count) in enumerate(values):
        height = 0.0 if peak == 0 else HEIGHT * count / peak
        bars.append(
            Bar(k * slot + 0.5, HEIGHT - height, max(slot - 1.0, 1.0), height, moment, count)
        )
    ticks = [(k * slot, values[k][0].strftime(tick_format)) for k in range(0, n, tick_every)]
    total = sum(count for _, count in values)
    summary = f"{total} {what}; at most {peak} in one {_unit(step)}"
    return Chart(bars, ticks, peak, total, summary)


def _unit(step: timedelta) -> str:
    return "hour" if step == timedelta(hours=1) else "day"
