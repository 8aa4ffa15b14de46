"""A small hand-made SVG line plot: panels in rows of two, a log x axis, error bars.

No plotting dependency: the benchmark's scaling curves are a few lines and points, and
an SVG file is text that the docs embed as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 380, 330  # one panel
LEFT, RIGHT, TOP, BOTTOM = 62, 14, 40, 104  # the plot area's margins inside a panel
FONT = "font-family='Helvetica, Arial, sans-serif'"
COLUMNS = 2
"""Panels per row. Two (760 units) fit the docs' content column at about their own size,
so that the smallest text, 11 units, reads as 11 px or more at 1280 px; three side by
side were shrunk to two thirds of that."""
CAPTION_LINE = 15  # the caption's line height; it wraps at about 6 units a character


@dataclass(frozen=True)
class Point:
    """A median and its min-max range at ``x``."""

    x: float
    median: float
    low: float
    high: float


@dataclass(frozen=True)
class Series:
    """One curve."""

    name: str
    color: str
    points: list[Point]
    dashed: bool = False


@dataclass(frozen=True)
class Panel:
    """One plot: a log x axis, a linear (from zero) or log y axis."""

    title: str
    x_label: str
    y_label: str
    series: list[Series] = field(default_factory=list)
    y_log: bool = False


def _si(value: float) -> str:
    """Short tick labels: 1k, 20k, 1.5M, 0.1."""
    for factor, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:g}{suffix}"
    return f"{value:g}"


def _linear_ticks(top: float) -> list[float]:
    """Ticks from 0 to at least ``top``, 1-2-5 steps, about five of them."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    count = math.ceil(top / step)
    return [step * index for index in range(count + 1)]


def _decades(low: float, high: float) -> list[float]:
    """Powers of ten around ``low``-``high`` (a point 1% past a power does not add one)."""
    first = math.floor(math.log10(low) + 0.005)
    last = math.ceil(math.log10(high) - 0.005)
    return [10.0**power for power in range(first, max(last, first + 1) + 1)]


def _panel(panel: Panel, left: float) -> list[str]:
    points = [point for series in panel.series for point in series.points]
    out: list[str] = []
    area_w, area_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    x0, y0 = left + LEFT, TOP
    out.append(
        f"<text x='{left + WIDTH / 2:.1f}' y='20' text-anchor='middle' font-size='14' "
        f"font-weight='bold' {FONT}>{escape(panel.title)}</text>"
    )
    if not points:
        out.append(
            f"<text x='{left + WIDTH / 2:.1f}' y='{TOP + area_h / 2:.1f}' text-anchor='middle' "
            f"font-size='12' {FONT}>no data</text>"
        )
        return out
    x_ticks = _decades(min(p.x for p in points), max(p.x for p in points))
    x_low, x_high = math.log10(x_ticks[0]), math.log10(x_ticks[-1])
    x_span = max(x_high - x_low, 1.0)
    if panel.y_log:
        y_ticks = _decades(min(p.low for p in points), max(p.high for p in points))
        y_low, y_high = math.log10(y_ticks[0]), math.log10(y_ticks[-1])
    else:
        y_ticks = _linear_ticks(max(p.high for p in points) * 1.05)
        y_low, y_high = 0.0, y_ticks[-1]
    y_span = max(y_high - y_low, 1e-12)

    def sx(x: float) -> float:
        return x0 + (math.log10(x) - x_low) / x_span * area_w

    def sy(y: float) -> float:
        value = math.log10(max(y, 1e-300)) if panel.y_log else y
        return y0 + area_h - (value - y_low) / y_span * area_h

    out.append(
        f"<rect x='{x0}' y='{y0}' width='{area_w}' height='{area_h}' fill='white' "
        "stroke='#888' stroke-width='1'/>"
    )
    for tick in y_ticks:
        y = sy(tick)
        out.append(
            f"<line x1='{x0}' y1='{y:.1f}' x2='{x0 + area_w}' y2='{y:.1f}' stroke='#e4e4e4'/>"
        )
        out.append(
            f"<text x='{x0 - 6}' y='{y + 4:.1f}' text-anchor='end' font-size='11' {FONT}>"
            f"{_si(tick)}</text>"
        )
    for tick in x_ticks:
        x = sx(tick)
        out.append(
            f"<line x1='{x:.1f}' y1='{y0}' x2='{x:.1f}' y2='{y0 + area_h}' stroke='#e4e4e4'/>"
        )
        out.append(
            f"<text x='{x:.1f}' y='{y0 + area_h + 16}' text-anchor='middle' font-size='11' "
            f"{FONT}>{_si(tick)}</text>"
        )
    out.append(
        f"<text x='{x0 + area_w / 2:.1f}' y='{y0 + area_h + 34}' text-anchor='middle' "
        f"font-size='12' {FONT}>{escape(panel.x_label)}</text>"
    )
    out.append(
        f"<text transform='translate({left + 16},{y0 + area_h / 2:.1f}) rotate(-90)' "
        f"text-anchor='middle' font-size='12' {FONT}>{escape(panel.y_label)}</text>"
    )
    for series in panel.series:
        ordered = sorted(series.points, key=lambda point: point.x)
        dash = " stroke-dasharray='6 4'" if series.dashed else ""
        path = " ".join(f"{sx(p.x):.1f},{sy(p.median):.1f}" for p in ordered)
        out.append(
            f"<polyline points='{path}' fill='none' stroke='{series.color}' "
            f"stroke-width='2'{dash}/>"
        )
        for p in ordered:
            x = sx(p.x)
            out.append(
                f"<line x1='{x:.1f}' y1='{sy(p.low):.1f}' x2='{x:.1f}' y2='{sy(p.high):.1f}' "
                f"stroke='{series.color}' stroke-width='1.5'/>"
            )
            out.append(
                f"<circle cx='{x:.1f}' cy='{sy(p.median):.1f}' r='3.5' fill='{series.color}'/>"
            )
    for index, series in enumerate(panel.series):
        y = y0 + area_h + 52 + index * 16
        dash = " stroke-dasharray='6 4'" if series.dashed else ""
        out.append(
            f"<line x1='{x0}' y1='{y - 4}' x2='{x0 + 22}' y2='{y - 4}' stroke='{series.color}' "
            f"stroke-width='2'{dash}/>"
        )
        out.append(
            f"<text x='{x0 + 28}' y='{y}' font-size='11' {FONT}>{escape(series.name)}</text>"
        )
    return out


def _wrap(text: str, chars: int) -> list[str]:
    """``text`` in lines of at most about ``chars`` characters, broken after ``"; "``."""
    lines: list[str] = []
    for piece in text.split("; "):
        if lines and len(lines[-1]) + 2 + len(piece) <= chars:
            lines[-1] += "; " + piece
        else:
            lines.append(piece)
    return lines


def render(panels: list[Panel], caption: str) -> str:
    """The SVG document of ``panels``, ``COLUMNS`` to a row, with ``caption`` under them."""
    columns = max(min(COLUMNS, len(panels)), 1)
    rows = max(math.ceil(len(panels) / columns), 1)
    lines = _wrap(caption, WIDTH * columns // 6)
    width = WIDTH * columns
    height = HEIGHT * rows + 24 + CAPTION_LINE * (len(lines) - 1)
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}'>",
        f"<rect width='{width}' height='{height}' fill='white'/>",
    ]
    for index, panel in enumerate(panels):
        row, column = divmod(index, columns)
        parts.append(f"<g transform='translate(0,{row * HEIGHT})'>")
        parts.extend(_panel(panel, column * WIDTH))
        parts.append("</g>")
    for number, line in enumerate(lines):
        parts.append(
            f"<text x='{width / 2:.1f}' y='{HEIGHT * rows + 16 + CAPTION_LINE * number}' "
            f"text-anchor='middle' font-size='11' fill='#555' {FONT}>{escape(line)}</text>"
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
