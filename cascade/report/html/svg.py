"""Small inline SVG charts for the HTML reports: intervals, differences, a confusion heat map,
a dose-response curve.

Pure functions from numbers to SVG text (no plotting library, no network): accuracies as
horizontal bars with 95% whiskers and a random-guess tick per row, paired differences as bars
around zero, counts as a heat map, and fractions against a degradation's level as lines with
whiskers. Every text in a chart is escaped, which is what lets the pages take a chart as
`Markup`; sizes follow the number of rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

PALETTE = ("#3b6ea8", "#d9822b", "#4c9a5b", "#8e5ba8", "#b5475a", "#5b8e9a")
FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif;font-size:12px"
LABEL_WIDTH = 210
PLOT_WIDTH = 430
ROW = 22
GREY = 'fill="#333"'


@dataclass(frozen=True)
class Bar:
    series: str
    value: float
    low: float | None = None
    high: float | None = None
    note: str = ""
    """Tooltip text (e.g. "n=32")."""


@dataclass(frozen=True)
class Group:
    label: str
    bars: tuple[Bar, ...]
    reference: float | None = None
    """Random-guess expectation of the group's items, drawn as a tick across its bars."""


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{escape(text)}</text>'


def _clip(label: str, limit: int = 32) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _head(width: float, height: float, title: str) -> list[str]:
    """The opening of every chart: the svg element, its accessible title and the visible one."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" style="{FONT}">',
        f"<title>{escape(title)}</title>",
        _text(4, 16, title, extra='font-weight="600" font-size="13"'),
    ]


def interval_chart(groups: Sequence[Group], *, title: str, series: Sequence[str] = ()) -> Markup:
    """Horizontal bars (0-100%) with 95% whiskers, one block of bars per group, and a dashed
    random-guess tick per group."""
    names = list(series) or list(dict.fromkeys(b.series for g in groups for b in g.bars))
    colour = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    per_group = max(1, max((len(g.bars) for g in groups), default=1))
    bar_height = 14 if per_group == 1 else max(7, 16 - 2 * per_group)
    block = per_group * bar_height + 10
    top = 30
    legend = 22 if len(names) > 1 or any(g.reference is not None for g in groups) else 0
    height = top + len(groups) * block + 28 + legend
    width = LABEL_WIDTH + PLOT_WIDTH + 60
    parts = [
        *_head(width, height, title),
    ]

    def x_of(value: float) -> float:
        return LABEL_WIDTH + max(0.0, min(1.0, value)) * PLOT_WIDTH

    bottom = top + len(groups) * block
    for tick in range(0, 101, 20):
        x = x_of(tick / 100)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" stroke="#e3e3e3"/>'
        )
        parts.append(_text(x, bottom + 14, f"{tick}%", "middle", 'fill="#666"'))
    for index, group in enumerate(groups):
        y0 = top + index * block
        parts.append(
            _text(LABEL_WIDTH - 8, y0 + block / 2 + 3, _clip(group.label), "end", 'fill="#222"')
        )
        for position, bar in enumerate(group.bars):
            y = y0 + 5 + position * bar_height
            fill = colour.get(bar.series, PALETTE[0])
            tip = escape(
                f"{group.label} · {bar.series}: {100 * bar.value:.1f}%"
                + (
                    f" [{100 * bar.low:.1f}, {100 * bar.high:.1f}]"
                    if bar.low is not None and bar.high is not None
                    else ""
                )
                + (f" · {bar.note}" if bar.note else "")
            )
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{y:.1f}" '
                f'width="{x_of(bar.value) - LABEL_WIDTH:.1f}" height="{bar_height - 3}" '
                f'fill="{fill}" opacity="0.85"><title>{tip}</title></rect>'
            )
            if bar.low is not None and bar.high is not None:
                mid = y + (bar_height - 3) / 2
                parts.append(
                    f'<line x1="{x_of(bar.low):.1f}" y1="{mid:.1f}" x2="{x_of(bar.high):.1f}" '
                    f'y2="{mid:.1f}" stroke="#111" stroke-width="1.2"/>'
                )
                for end in (bar.low, bar.high):
                    parts.append(
                        f'<line x1="{x_of(end):.1f}" y1="{mid - 3:.1f}" x2="{x_of(end):.1f}" '
                        f'y2="{mid + 3:.1f}" stroke="#111" stroke-width="1.2"/>'
                    )
            parts.append(
                _text(
                    x_of(1.0) + 6, y + bar_height - 5, f"{100 * bar.value:.1f}", extra='fill="#333"'
                )
            )
        if group.reference is not None:
            x = x_of(group.reference)
            parts.append(
                f'<line x1="{x:.1f}" y1="{y0 + 2}" x2="{x:.1f}" y2="{y0 + block - 4}" '
                f'stroke="#c0392b" stroke-width="2" stroke-dasharray="3,2">'
                f"<title>random guess: {100 * group.reference:.1f}%</title></line>"
            )
    y = bottom + 32
    x = float(LABEL_WIDTH)
    if len(names) > 1:
        for name in names:
            parts.append(
                f'<rect x="{x:.1f}" y="{y - 9}" width="10" height="10" fill="{colour[name]}"/>'
            )
            parts.append(_text(x + 14, y, _clip(name, 24)))
            x += 20 + 7 * min(len(name), 24)
    if any(g.reference is not None for g in groups):
        parts.append(
            f'<line x1="{x:.1f}" y1="{y - 4}" x2="{x + 16:.1f}" y2="{y - 4}" stroke="#c0392b" '
            'stroke-width="2" stroke-dasharray="3,2"/>'
        )
        parts.append(_text(x + 20, y, "random guess"))
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Delta:
    label: str
    value: float
    """A difference of fractions (e.g. -0.125 for 12.5 points worse)."""
    significant: bool = False
    note: str = ""


def delta_chart(deltas: Sequence[Delta], *, title: str) -> Markup:
    """Bars around zero (in percentage points); significant differences drawn solid."""
    span = max([0.05, *(abs(d.value) for d in deltas)])
    span = min(1.0, (int(span * 20) + 1) / 20)
    top, width = 30, LABEL_WIDTH + PLOT_WIDTH + 70
    height = top + len(deltas) * ROW + 48
    centre = LABEL_WIDTH + PLOT_WIDTH / 2

    def x_of(value: float) -> float:
        return centre + value / span * PLOT_WIDTH / 2

    parts = [
        *_head(width, height, title),
    ]
    bottom = top + len(deltas) * ROW
    for step in (-1.0, -0.5, 0.0, 0.5, 1.0):
        x = x_of(step * span)
        parts.append(
            f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{bottom}" stroke="#e3e3e3"/>'
        )
        parts.append(_text(x, bottom + 14, f"{100 * step * span:+.0f}", "middle", 'fill="#666"'))
    parts.append(f'<line x1="{centre}" y1="{top - 4}" x2="{centre}" y2="{bottom}" stroke="#555"/>')
    for index, delta in enumerate(deltas):
        y = top + index * ROW
        colour = "#3b8a4f" if delta.value >= 0 else "#b5475a"
        start, end = sorted((centre, x_of(delta.value)))
        style = (
            f'fill="{colour}"'
            if delta.significant
            else f'fill="{colour}" fill-opacity="0.35" stroke="{colour}"'
        )
        tip = escape(f"{delta.label}: {100 * delta.value:+.1f} points {delta.note}".strip())
        parts.append(_text(LABEL_WIDTH - 8, y + 14, _clip(delta.label), "end", 'fill="#222"'))
        parts.append(
            f'<rect x="{start:.1f}" y="{y + 4}" width="{max(end - start, 1):.1f}" '
            f'height="{ROW - 8}" {style}><title>{tip}</title></rect>'
        )
        mark = " *" if delta.significant else ""
        parts.append(
            _text(
                LABEL_WIDTH + PLOT_WIDTH + 8,
                y + 14,
                f"{100 * delta.value:+.1f}{mark}",
                extra='fill="#333"',
            )
        )
    parts.append(
        _text(
            LABEL_WIDTH,
            bottom + 34,
            "points vs base; solid = significant after Bonferroni (*), pale = not",
            extra='fill="#555"',
        )
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def heatmap(
    counts: Sequence[Sequence[int]],
    *,
    rows: Sequence[str],
    columns: Sequence[str],
    title: str,
    row_title: str,
    column_title: str,
) -> Markup:
    """A count matrix as shaded cells with the count written in each."""
    cell = 34
    left, top = 96, 56
    width = left + cell * len(columns) + 20
    height = top + cell * len(rows) + 16
    peak = max([1, *(v for row in counts for v in row)])
    parts = [
        *_head(width, height, title),
        _text(left + cell * len(columns) / 2, 34, column_title, "middle", 'fill="#555"'),
        _text(4, top - 6, row_title, extra='fill="#555"'),
    ]
    for j, name in enumerate(columns):
        parts.append(_text(left + j * cell + cell / 2, top - 6, name, "middle"))
    for i, name in enumerate(rows):
        y = top + i * cell
        parts.append(_text(left - 8, y + cell / 2 + 4, name, "end"))
        for j, value in enumerate(counts[i]):
            x = left + j * cell
            share = value / peak
            fill = f"rgba(59,110,168,{0.08 + 0.85 * share:.3f})" if value else "#f6f6f6"
            ink = "#fff" if share > 0.55 else "#222"
            diagonal = ' stroke="#222" stroke-width="1.5"' if i == j else ' stroke="#fff"'
            tip = escape(f"{row_title} {name}, {column_title} {columns[j]}: {value}")
            parts.append(
                f'<rect x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}"{diagonal}>'
                f"<title>{tip}</title></rect>"
            )
            parts.append(
                _text(x + cell / 2, y + cell / 2 + 4, str(value), "middle", f'fill="{ink}"')
            )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Point:
    level: float
    value: float
    """A fraction (0 to 1)."""
    low: float | None = None
    high: float | None = None
    note: str = ""
    """Tooltip text (e.g. "n=32")."""


@dataclass(frozen=True)
class Curve:
    label: str
    points: tuple[Point, ...]


DOSE_LEFT = 56
DOSE_TOP = 34
DOSE_WIDTH = 440
DOSE_HEIGHT = 220
"""The plot area of `dose_chart`: levels span its width, 0-100% its height (top is 100%)."""


def dose_chart(
    curves: Sequence[Curve],
    *,
    title: str,
    axis: str,
    reference: Sequence[tuple[float, float]] = (),
) -> Markup:
    """Fractions (0-100%) against the level of a degradation: one line with 95% whiskers per
    curve, and the random-guess expectation at each level as a dashed line.

    Levels are placed linearly between the smallest (left edge) and the largest (right edge);
    a single level sits in the middle.
    """
    levels = sorted({p.level for c in curves for p in c.points} | {lv for lv, _ in reference})
    lowest, highest = (levels[0], levels[-1]) if levels else (0.0, 1.0)
    width = DOSE_LEFT + DOSE_WIDTH + 30
    legend_y = DOSE_TOP + DOSE_HEIGHT + 50
    height = legend_y + 12

    def x_of(level: float) -> float:
        if highest == lowest:
            return DOSE_LEFT + DOSE_WIDTH / 2
        return DOSE_LEFT + (level - lowest) / (highest - lowest) * DOSE_WIDTH

    def y_of(value: float) -> float:
        return DOSE_TOP + (1 - max(0.0, min(1.0, value))) * DOSE_HEIGHT

    bottom = DOSE_TOP + DOSE_HEIGHT
    parts = [
        *_head(width, height, title),
    ]
    for tick in range(0, 101, 20):
        y = y_of(tick / 100)
        parts.append(
            f'<line x1="{DOSE_LEFT}" y1="{y:.1f}" x2="{DOSE_LEFT + DOSE_WIDTH}" y2="{y:.1f}" '
            'stroke="#e3e3e3"/>'
        )
        parts.append(_text(DOSE_LEFT - 6, y + 4, f"{tick}%", "end", 'fill="#666"'))
    for level in levels:
        x = x_of(level)
        parts.append(
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#666"/>'
        )
        parts.append(_text(x, bottom + 16, f"{level:g}", "middle", 'fill="#666"'))
    parts.append(_text(DOSE_LEFT + DOSE_WIDTH / 2, bottom + 32, axis, "middle", 'fill="#333"'))
    if reference:
        line = " ".join(f"{x_of(lv):.1f},{y_of(v):.1f}" for lv, v in sorted(reference))
        parts.append(
            f'<polyline class="reference" points="{line}" fill="none" stroke="#c0392b" '
            'stroke-width="1.5" stroke-dasharray="4,3"><title>random guess</title></polyline>'
        )
    for index, curve in enumerate(curves):
        colour = PALETTE[index % len(PALETTE)]
        points = sorted(curve.points, key=lambda p: p.level)
        line = " ".join(f"{x_of(p.level):.1f},{y_of(p.value):.1f}" for p in points)
        parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for point in points:
            x = x_of(point.level)
            if point.low is not None and point.high is not None:
                parts.append(
                    f'<line x1="{x:.1f}" y1="{y_of(point.low):.1f}" x2="{x:.1f}" '
                    f'y2="{y_of(point.high):.1f}" stroke="{colour}" stroke-width="1.2"/>'
                )
                for end in (point.low, point.high):
                    parts.append(
                        f'<line x1="{x - 4:.1f}" y1="{y_of(end):.1f}" x2="{x + 4:.1f}" '
                        f'y2="{y_of(end):.1f}" stroke="{colour}" stroke-width="1.2"/>'
                    )
            tip = escape(
                f"{curve.label} at {point.level:g}: {100 * point.value:.1f}%"
                + (
                    f" [{100 * point.low:.1f}, {100 * point.high:.1f}]"
                    if point.low is not None and point.high is not None
                    else ""
                )
                + (f" · {point.note}" if point.note else "")
            )
            parts.append(
                f'<circle class="point" data-series="{escape(curve.label, quote=True)}" '
                f'cx="{x:.1f}" cy="{y_of(point.value):.1f}" r="3.5" fill="{colour}">'
                f"<title>{tip}</title></circle>"
            )
    x = float(DOSE_LEFT)
    for index, curve in enumerate(curves):
        colour = PALETTE[index % len(PALETTE)]
        parts.append(
            f'<rect x="{x:.1f}" y="{legend_y - 9}" width="10" height="10" fill="{colour}"/>'
        )
        parts.append(_text(x + 14, legend_y, _clip(curve.label, 24)))
        x += 24 + 7 * min(len(curve.label), 24)
    if reference:
        parts.append(
            f'<line x1="{x:.1f}" y1="{legend_y - 4}" x2="{x + 16:.1f}" y2="{legend_y - 4}" '
            'stroke="#c0392b" stroke-width="1.5" stroke-dasharray="4,3"/>'
        )
        parts.append(_text(x + 20, legend_y, "random guess"))
    parts.append("</svg>")
    return Markup("".join(parts))
