"""The listing of all runs (`cascade runs`): as terminal lines, a table when the terminal is wide
and two lines a run when it is narrow, and as one self-contained HTML page with the published
rows beside the runs (`cascade.core.published`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cascade.analysis.runs import SCORERS, RunRow
from cascade.core.published import published
from cascade.report.html.render import render

WIDE = 140
"""Terminal columns from which the listing is one table row a run."""


def accuracy(row: RunRow, scorer: str, *, interval: bool = True) -> str:
    """`55.5 [52.4, 58.6]` (%), or `-`."""
    value = (row.accuracy or {}).get(scorer)
    if value is None:
        return "-"
    ci = (row.ci95 or {}).get(scorer)
    if not interval or not ci:
        return f"{100 * value:.1f}"
    return f"{100 * value:.1f} [{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _money(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}" if value >= 0.01 or value == 0 else "<$0.01"


def _int(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def cells(row: RunRow) -> dict[str, str]:
    """One run's cells, as text."""
    return {
        "name": row.name,
        "sweep": f"{row.sweep}: {row.variation or '?'}" if row.sweep else "",
        "benchmark": row.benchmark or "-",
        "items": _int(row.items),
        **{scorer: accuracy(row, scorer) for scorer in SCORERS},
        "random": "-" if row.random_expectation is None else f"{100 * row.random_expectation:.1f}",
        "rubrics": "-" if row.rubrics_score is None else f"{row.rubrics_score:.2f} ({row.rubrics})",
        "claim": row.claim or "-",
        "tokens": _int(row.tokens),
        "cost": _money(row.cost_usd),
        "date": row.date or "-",
        "status": row.status,
    }


COLUMNS = [
    ("name", "run"),
    ("sweep", "sweep"),
    ("benchmark", "benchmark"),
    ("items", "items"),
    ("official", "official %"),
    ("strict", "strict %"),
    ("lenient", "lenient %"),
    ("random", "random %"),
    ("rubrics", "MMAR-Rubrics"),
    ("claim", "published row claimed"),
    ("tokens", "tokens"),
    ("cost", "cost"),
    ("date", "date"),
    ("status", "status"),
]


def text_lines(rows: Sequence[RunRow], width: int) -> list[str]:
    """The listing for a terminal `width` columns wide: a table when it fits, else
    `narrow_lines` (no cell wrapped onto several lines)."""
    if not rows:
        return ["no runs found"]
    shown = [cells(r) for r in rows]
    keys = [k for k, _ in COLUMNS if any(c[k] not in ("", "-") for c in shown)]
    headings = dict(COLUMNS)
    widths = {k: max(len(headings[k]), *(len(c[k]) for c in shown)) for k in keys}
    if width < WIDE or sum(widths.values()) + 2 * (len(keys) - 1) > width:
        return narrow_lines(rows)
    line = "  ".join(headings[k].ljust(widths[k]) for k in keys)
    return [line, "-" * len(line)] + [
        "  ".join(c[k].ljust(widths[k]) for k in keys).rstrip() for c in shown
    ]


def narrow_lines(rows: Sequence[RunRow]) -> list[str]:
    """Two or three lines a run, each under 80 columns where the values allow."""
    lines = []
    for row in rows:
        shown = cells(row)
        where = f" (sweep {row.sweep}, {row.variation or '?'})" if row.sweep else ""
        lines.append(f"{row.name}{where}")
        if row.status != "finished":
            lines.append(f"  {row.status}")
            continue
        lines.append(
            f"  {shown['benchmark']}, {shown['items']} items, {shown['date']}; random "
            f"{shown['random']}%; tokens {shown['tokens']}, cost {shown['cost']}"
        )
        lines.append("  " + "; ".join(f"{scorer} {accuracy(row, scorer)}" for scorer in SCORERS))
        extra = [f"claims {row.claim}" if row.claim else "", f"rubrics {shown['rubrics']}"]
        if row.claim or row.rubrics_score is not None:
            lines.append("  " + "; ".join(e for e in extra if e and not e.endswith(" -")))
    return lines


def runs_page(rows: Sequence[RunRow], page: Path, folder: Path) -> str:
    """The HTML page of the listing, linking each run to its report.html (relative to `page`)."""
    shown: list[dict[str, Any]] = []
    for row in rows:
        text = cells(row)
        sort = {
            **text,
            **{s: "" if (v := (row.accuracy or {}).get(s)) is None else v for s in SCORERS},
            "tokens": row.tokens if row.tokens is not None else "",
            "cost": row.cost_usd if row.cost_usd is not None else "",
        }
        kind = "run" if row.status == "finished" else "damaged" if "damaged" in row.status else ""
        link = os.path.relpath(row.report, page.parent) if row.report else None
        shown.append({"cells": text, "sort": sort, "kind": kind, "link": link})
    benchmarks = sorted({r.benchmark for r in rows if r.benchmark})
    sources = []
    for name in benchmarks:
        for result in published(name):
            sources.append(result.source)
            text = {key: "" for key, _ in COLUMNS}
            accuracy_text = "-" if result.accuracy is None else f"{result.accuracy:.2f}"
            kind = "baseline" if result.system.lower() == "random guess" else "published"
            text.update(
                name=result.system,
                benchmark=name,
                official=accuracy_text,
                rubrics="-" if result.rubrics is None else f"{result.rubrics:.2f}",
                status=f"published: {result.source}",
            )
            sort = {**text, "official": "" if result.accuracy is None else result.accuracy / 100}
            shown.append({"cells": text, "sort": sort, "kind": kind, "link": None})
    return render(
        "runs.html.j2",
        title=f"Runs under {folder}",
        subtitle=f"{len(rows)} runs; published rows of {', '.join(benchmarks) or '-'}",
        columns=COLUMNS,
        rows=shown,
        published_source="; ".join(sorted(set(sources))) or "none for these benchmarks",
    )
