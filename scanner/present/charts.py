"""The HTML report's charts: the geometry of its inline SVG bar charts (hosts per verdict,
cause, grade, trust store) and its expiry calendar, and the colours that carry meaning. Pure:
counts in, frozen coordinates out; the template draws them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

# Colours that carry meaning: good (trusted, grade A) green, warnings amber, failures red,
# information grey.
TONES = {"good": "#2e7d32", "warn": "#c98a00", "bad": "#b3261e", "info": "#777777"}
VERDICT_TONES = {"trusted": "good", "expiring_soon": "warn"}  # every other verdict: a failure
SEVERITY_TONES = {"critical": "bad", "high": "bad", "medium": "warn", "low": "warn"}
GRADE_TONES = {"A": "good", "A-": "good", "B": "warn", "C": "warn"}  # F, M, T: failures


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    count: int
    fill: str  # the colour of its tone (TONES)
    y: int  # the bar's top
    w: int
    h: int
    text_y: int
    count_x: int


@dataclass(frozen=True, slots=True)
class BarChart:
    """Horizontal bars, one per (label, count)."""

    title: str
    width: int
    height: int
    label_w: int
    bars: tuple[Bar, ...]


def bar_chart(
    items: Sequence[tuple[str, int, str]], *, title: str, width: int = 460, label_w: int = 150
) -> BarChart:
    """Bars of (label, count, tone)."""
    row_h, top = 20, 24
    biggest = max([c for _, c, _ in items] + [1])
    bars = []
    for i, (label, count, tone) in enumerate(items):
        y = top + i * row_h
        w = round((width - label_w - 50) * count / biggest)
        bars.append(
            Bar(
                label=label,
                count=count,
                fill=TONES[tone],
                y=y + 3,
                w=w,
                h=row_h - 6,
                text_y=y + 14,
                count_x=label_w + w + 6,
            )
        )
    height = top + row_h * max(len(items), 1) + 6
    return BarChart(title=title, width=width, height=height, label_w=label_w, bars=tuple(bars))


@dataclass(frozen=True, slots=True)
class Week:
    week: Any
    hosts: int
    starts: Any
    x: str  # coordinates as printed (one decimal where the slot width is fractional)
    y: int
    w: str
    h: int
    mid: str
    count_y: int


@dataclass(frozen=True, slots=True)
class CalendarChart:
    """Vertical bars: hosts whose leaf expires in each week from as-of."""

    width: int
    height: int
    label_y: int
    first: Any  # the first week's start
    weeks: tuple[Week, ...]


def calendar_chart(calendar: pd.DataFrame, *, width: int = 460) -> CalendarChart:
    height, top, bottom = 200, 36, 36
    rows = list(calendar.itertuples(index=False))
    biggest = max([int(w.hosts) for w in rows] + [1])
    slot = (width - 10) / max(len(rows), 1)
    plot_h = height - top - bottom
    weeks = []
    for i, w in enumerate(rows):
        h = round(plot_h * int(w.hosts) / biggest)
        x = 5 + i * slot
        y = top + plot_h - h
        weeks.append(
            Week(
                week=w.week,
                hosts=int(w.hosts),
                starts=w.starts,
                x=f"{x + 3:.1f}",
                y=y,
                w=f"{slot - 6:.1f}",
                h=h,
                mid=f"{x + slot / 2:.1f}",
                count_y=y - 3,
            )
        )
    return CalendarChart(
        width=width,
        height=height,
        label_y=height - bottom + 14,
        first=rows[0].starts if rows else "",
        weeks=tuple(weeks),
    )
