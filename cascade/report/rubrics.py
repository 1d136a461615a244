"""MMAR-Rubrics on a run's pages: the totals each judge gave (with the protocol and judge that
made them), the published results beside them, and each item's gate verdict and raters."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cascade.core import markdown
from cascade.core.published import published
from cascade.run import RunDir


@dataclass(frozen=True)
class RaterView:
    score: float
    justifications: list[str]


@dataclass(frozen=True)
class ItemRubrics:
    """One item under one judge: the gate's verdict, the raters and the trimmed mean."""

    label: str
    gate: str
    score: float | None
    raters: list[RaterView]


@dataclass(frozen=True)
class RubricsView:
    label: str
    table: pd.DataFrame
    note: str
    items: dict[str, ItemRubrics]


def totals_table(
    summary: Mapping[str, Any], groups: Sequence[str] | None = ("modality", "category")
) -> pd.DataFrame:
    """MMAR-Rubrics totals as the official script prints them (score and accuracy x100 over the
    evaluated items) with 95% intervals: overall, then by each of `groups` (None: every group
    the summary holds). The one builder of this table: the run's report and the console."""

    def row(group: str, t: Mapping[str, Any]) -> dict[str, Any]:
        low, high = t["score_ci"]
        return {
            "group": group,
            "n": t["n"],
            "MMAR-Rubrics [95% CI]": f"{t['score']:.2f} [{low:.2f}, {high:.2f}]",
            "accuracy % (official rule)": f"{t['accuracy']:.2f}",
        }

    rows = [row("all", summary["overall"])]
    for table in summary["groups"] if groups is None else groups:
        rows += [row(f"{table}={v}", t) for v, t in summary["groups"].get(table, {}).items()]
    return pd.DataFrame(rows)


def _note(summary: Mapping[str, Any]) -> str:
    return (
        f"{summary['label']}: MMAR's evaluation_rubrics.py protocol (a wrong answer by the "
        "official rule scores 0 without a judge call; five raters, the middle three averaged); "
        f"score and accuracy x100 over the {summary['overall']['n']} evaluated items, 95% "
        f"t-intervals. Not evaluated: {len(summary['not_evaluated'])}"
        + (
            f" ({', '.join(list(summary['not_evaluated'])[:5])})"
            if summary["not_evaluated"]
            else ""
        )
        + f"; without a prediction: {len(summary['without_prediction'])}."
    )


def _items(label: str, lines: Sequence[Mapping[str, Any]]) -> dict[str, ItemRubrics]:
    found = {}
    for line in lines:
        raters = [
            RaterView(score, list(justes))
            for score, justes in zip(
                line.get("rater_scores") or [], line.get("justifications") or [], strict=False
            )
        ]
        gate = "right: judged" if line.get("correct") else "wrong: 0, not judged"
        found[str(line["id"])] = ItemRubrics(label, gate, line.get("score"), raters)
    return found


def rubrics_views(run: RunDir) -> list[RubricsView]:
    """Every MMAR-Rubrics judgement of the run (rubrics-*.json and its lines)."""
    return [
        RubricsView(
            summary["label"], totals_table(summary), _note(summary), _items(summary["label"], lines)
        )
        for summary, lines in run.rubrics_records()
    ]


def published_table(benchmark: str = "mmar") -> pd.DataFrame:
    """The published results, as reported, with their sources."""
    return pd.DataFrame(
        [
            {
                "system (as reported)": p.system,
                "accuracy %": "–" if p.accuracy is None else f"{p.accuracy:.2f}",
                "MMAR-Rubrics": "–" if p.rubrics is None else f"{p.rubrics:.2f}",
                "source": p.source,
            }
            for p in published(benchmark)
        ]
    )


def rubrics_section(run: RunDir) -> str:
    """The MMAR-Rubrics sections of the run's report.md (none when no judge scored it)."""
    views = rubrics_views(run)
    if not views:
        return ""
    lines: list[str] = []
    for view in views:
        lines += [f"## {view.label}", "", view.note, "", markdown(view.table)]
    lines += ["## Published MMAR results (as reported)", "", markdown(published_table())]
    return "\n".join(lines)
