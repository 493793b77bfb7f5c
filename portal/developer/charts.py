"""Server-rendered SVG bar charts: no JavaScript, no third-party library, readable by screen readers.

Every number and label is formatted here from ints and dates, and text is escaped, so the result
is safe to put in a page as markup.
"""

from __future__ import annotations

from datetime import date
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 600, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 12, 28


def _nice_max(value: int) -> int:
    """The smallest 1/2/5 x 10^n at or above value, so the axis reads in round numbers."""
    if value <= 4:
        return 4
    step = 1
    while True:
        for m in (1, 2, 5):
            if m * step >= value:
                return m * step
        step *= 10


LABEL_EVERY = 7  # days between x-axis labels: "Mar 01" is ~4 bars wide at the chart's size


def _labelled(i: int, days: int) -> bool:
    """Every 7th day, and the last day unless that would crowd the label before it (a label
    at day 28 and another at day 29 overlapped)."""
    if i % LABEL_EVERY == 0:
        return True
    return i == days - 1 and i % LABEL_EVERY >= LABEL_EVERY // 2 + 1


def bar_chart(series: list[tuple[date, int]], title: str) -> Markup:
    """A bar per day; the title and a summary are the chart's accessible name and description."""
    top = _nice_max(max((n for _, n in series), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(series), 1)
    total = sum(n for _, n in series)
    parts = [
        f'<svg class="chart" role="img" aria-labelledby="chart-title chart-desc" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(title)}</title>',
        f'<desc id="chart-desc">{total} in total over {len(series)} days.</desc>',
    ]
    for i in range(5):
        value = top * i // 4
        y = TOP + plot_h - plot_h * i / 4
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value}</text>'
        )
    for i, (day, count) in enumerate(series):
        h = plot_h * count / top
        x = LEFT + i * slot + slot * 0.15
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{h:.1f}"><title>{day.isoformat()}: {count}</title></rect>'
        )
        if _labelled(i, len(series)):
            parts.append(
                f'<text class="axis" x="{x + slot * 0.35:.1f}" y="{HEIGHT - 8}" '
                f'text-anchor="middle">{day.strftime("%b %d")}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built from ints, dates and escaped text
