"""The trend page: one self-contained HTML file (inline CSS and SVG line charts, no script, no
network) with a line per verdict, grade and severity over the nights, the changes from each
night before, the tables behind the charts, and the latest night's new findings and hosts
breaking soon. Pure: a Trend in, a string out; rendered by the report's autoescaping Jinja2
environment (`templates/trend.html.j2`), so every value is HTML-escaped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from scanner.analysis.trend import BREAKING_DAYS, BREAKING_NAME, Kind, Trend, labels, series
from scanner.present import trend as text
from scanner.present.html import _assets, _environment

MAX_ROWS = 1000  # rows of each host list on the page

# Colours carry meaning: trusted and grade A green, warnings amber, failures red, errors grey.
COLOURS = {
    "ok": "#2e7d32",
    "trusted": "#2e7d32",
    "A": "#2e7d32",
    "A-": "#66a63a",
    "resolved_finding": "#2e7d32",
    "expiring_soon": "#d9640b",
    BREAKING_NAME: "#b58a00",
    "B": "#b58a00",
    "C": "#d9640b",
    "medium": "#b58a00",
    "high": "#d9640b",
    "low": "#2b6cb0",
    "info": "#666666",
    "error": "#757575",
    "not_trusted": "#b3261e",
    "new_finding": "#b3261e",
    "critical": "#b3261e",
    "F": "#b3261e",
    "expired": "#7a1d16",
    "revoked": "#6a1b9a",
    "M": "#8e2a6b",
    "T": "#7a1d16",
}
OVERVIEW = ("trusted", "not_trusted", "error", BREAKING_NAME)
OTHERS = ("#1565c0", "#00838f", "#5d4037", "#ad1457", "#283593", "#558b2f", "#4e342e")


@dataclass(frozen=True, slots=True)
class Point:
    x: str
    y: str
    label: str  # the night
    value: int


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    colour: str
    points: tuple[Point, ...]
    path: str  # the polyline's points
    end_x: str  # where its name is written, right of the last point
    end_y: str
    dashed: bool


@dataclass(frozen=True, slots=True)
class Tick:
    pos: str
    text: str


@dataclass(frozen=True, slots=True)
class LineChart:
    title: str
    width: int
    height: int
    left: int
    right: int  # the x of the plot's right edge
    top: int
    bottom: int  # the y of the x axis
    lines: tuple[Line, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]


def line_chart(
    title: str,
    names: Sequence[str],
    lines: Sequence[tuple[str, Sequence[int | None]]],
    *,
    width: int = 600,
    height: int = 260,
) -> LineChart:
    """A line per (name, counts over the nights); a night without a count (the first night's
    changes) has no point. Names are written at each line's end, nudged apart so none hide
    another."""
    left, right_margin, top, bottom_margin = 48, 170, 28, 34
    plot_w, plot_h = width - left - right_margin, height - top - bottom_margin
    biggest = max([v for _, vs in lines for v in vs if v is not None] + [1])
    n = len(names)

    def x(i: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(v: int) -> float:
        return top + plot_h - plot_h * v / biggest

    out: list[Line] = []
    palette = iter(OTHERS * 4)
    for name, counts in lines:
        points = tuple(
            Point(x=f"{x(i):.1f}", y=f"{y(v):.1f}", label=names[i], value=v)
            for i, v in enumerate(counts)
            if v is not None
        )
        if not points:
            continue
        out.append(
            Line(
                name=name,
                colour=COLOURS.get(name) or next(palette),
                points=points,
                path=" ".join(f"{p.x},{p.y}" for p in points),
                end_x=f"{float(points[-1].x) + 8:.1f}",
                end_y="",
                dashed=name in ("error", BREAKING_NAME),
            )
        )
    ends = _spread([float(line.points[-1].y) + 4 for line in out], top + 10, top + plot_h + 4)
    out = [replace(line, end_y=f"{e:.1f}") for line, e in zip(out, ends, strict=True)]
    # As many night labels under the axis as fit side by side (about 7 px a character).
    room = max(1, plot_w // (7 * max([len(s) for s in names] + [1]) + 12))
    step = max(1, -(-n // room))
    x_ticks = tuple(
        Tick(pos=f"{x(i):.1f}", text=names[i]) for i in range(n) if i % step == 0 or i == n - 1
    )
    y_ticks = tuple(
        Tick(pos=f"{y(v):.1f}", text=str(v)) for v in sorted({0, biggest // 2, biggest})
    )
    return LineChart(
        title=title,
        width=width,
        height=max(height, top + 13 * len(out) + bottom_margin),
        left=left,
        right=left + plot_w,
        top=top,
        bottom=top + plot_h,
        lines=tuple(out),
        x_ticks=x_ticks,
        y_ticks=y_ticks,
    )


LABEL_GAP = 13  # px between the baselines of two names at the lines' ends


def _spread(wanted: Sequence[float], low: float, high: float) -> list[float]:
    """Baselines for the names at the lines' ends: each as near its line as can be with
    LABEL_GAP between any two, kept within [low, high] while there is room (they go above
    the plot only when there is not)."""
    order = sorted(range(len(wanted)), key=lambda i: wanted[i])
    placed = [0.0] * len(wanted)
    previous = -1e9
    for i in order:  # top down, each at least a gap below the one above
        previous = placed[i] = max(wanted[i], previous + LABEL_GAP, low)
    following = 1e9
    for i in reversed(order):  # bottom up, none below `high`
        following = placed[i] = min(placed[i], following - LABEL_GAP, high)
    return placed


def _chart(
    t: Trend,
    title: str,
    kinds: Sequence[Kind],
    names: Sequence[str],
    *,
    only: Sequence[str] | None = None,
    skip: Sequence[str] = (),
) -> LineChart:
    """A line per name of `kinds` (those of `only`, but `skip`) with a host on some night."""
    rows = t.counts[t.counts["kind"].isin([k.value for k in kinds])]
    lines = []
    for kind, name in dict.fromkeys(zip(rows["kind"], rows["name"], strict=True)):
        if (only is not None and name not in only) or name in skip:
            continue
        counts = series(t, Kind(kind), str(name))
        if any(counts):
            lines.append((str(name), counts))
    return line_chart(title, names, lines)


def render(t: Trend, *, limit: int = MAX_ROWS) -> str:
    """The page as one HTML document."""
    from markupsafe import Markup

    css, _ = _assets()
    names = labels([n.as_of for n in t.nights])
    charts = [
        # The whole fleet, then the problems on their own scale (a few hosts each).
        _chart(
            t,
            "Hosts per verdict: trusted, not trusted, errors, breaking soon",
            (Kind.VERDICT, Kind.BREAKING, Kind.STATUS),
            names,
            only=OVERVIEW,
        ),
        _chart(t, "Hosts per problem verdict", (Kind.VERDICT,), names, skip=OVERVIEW),
        _chart(t, "Hosts per grade", (Kind.GRADE,), names),
        _chart(t, "Hosts per severity (worst finding)", (Kind.SEVERITY,), names),
        _chart(
            t,
            "Findings new and resolved since the night before",
            (Kind.CHANGE,),
            names,
            only=("new_finding", "resolved_finding"),
        ),
    ]
    charts = [c for c in charts if c.lines] if len(names) else []
    page = _environment().get_template("trend.html.j2")
    new, soon = text.changes(t), text.breaking_list(t)
    return page.render(
        css=Markup(css),  # the package's own file, not data
        heading=text.heading(t),  # lines
        warnings=list(t.warnings),
        nights=[{"label": label, "info": n} for label, n in zip(names, t.nights, strict=True)],
        charts=charts,
        tables=[_night_rows(spec.title, spec.label, df) for spec, df in text.tables(t)],
        latest=names[-1] if names else "",
        changes=_rows(new.head(limit)),
        changes_more=max(len(new) - limit, 0),
        compared=len(t.nights) > 1,
        breaking=_rows(soon.head(limit)),
        breaking_more=max(len(soon) - limit, 0),
        breaking_days=BREAKING_DAYS,
    )


def _night_rows(title: str, label: str, df: Any) -> dict[str, Any]:
    """A count table with a row per night (a year of nights reads down the page, not across
    it) and a column per name."""
    names = [str(n) for n in df[label]]
    nights = [c for c in df.columns if c != label]
    rows = [[night, *df[night].tolist()] for night in nights]
    return {"title": title, "columns": ["night", *names], "rows": _rows(rows)}


def _rows(df: Any) -> list[list[Any]]:
    """Cells as the template tests them: a missing value (None, NaN, NA) is None."""
    import pandas as pd

    rows = df if isinstance(df, list) else df.itertuples(index=False)
    return [
        [None if not isinstance(v, list | tuple) and pd.isna(v) else v for v in values]
        for values in rows
    ]
