"""Compare runs on the same items: accuracy side by side, exact paired tests, flipped items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from cascade.config import ScoringSpec
from cascade.metrics import compute_metrics, outcomes
from cascade.report import pct
from cascade.rescore import Scorable
from cascade.results import SCORERS
from cascade.stats import paired_comparison


def compare(runs: Sequence[Scorable], spec: ScoringSpec) -> dict[str, Any]:
    """Every run's metrics, and each later run against the first, per scorer.

    Paired tests (exact McNemar) are on the items both runs answered; significance is judged at
    alpha / (number of comparisons), Bonferroni.
    """
    if len(runs) < 2:
        raise ValueError("compare needs at least two runs")
    table = [outcomes(r.items, r.results) for r in runs]
    comparisons = len(runs) - 1
    threshold = spec.alpha / comparisons
    pairs = []
    for index in range(1, len(runs)):
        for scorer in SCORERS:
            paired = paired_comparison(table[0][scorer], table[index][scorer])
            pairs.append(
                {
                    "base": runs[0].name,
                    "run": runs[index].name,
                    "scorer": scorer,
                    **paired.to_json(),
                    "significant": paired.p_value < threshold,
                }
            )
    return {
        "runs": [
            {
                "name": r.name,
                "benchmark": r.benchmark,
                "metrics": compute_metrics(r.items, r.results, spec, benchmark=r.benchmark),
            }
            for r in runs
        ],
        "alpha": spec.alpha,
        "comparisons": comparisons,
        "paired": pairs,
    }


def accuracy_table(compared: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for run in compared["runs"]:
        metrics = run["metrics"]
        row: dict[str, Any] = {"run": run["name"], "n": metrics["n_items"]}
        for scorer in SCORERS:
            overall = metrics["scorers"][scorer]["overall"]
            row[f"{scorer} %"] = pct(overall["accuracy"]) if overall else "–"
        row["invalid % (strict)"] = pct(metrics["invalid_rate"]["strict"])
        rows.append(row)
    return pd.DataFrame(rows)


def paired_table(compared: dict[str, Any]) -> pd.DataFrame:
    rows = [
        {
            "run": p["run"],
            "vs": p["base"],
            "scorer": p["scorer"],
            "n": p["n"],
            "difference (pts)": f"{100 * p['difference']:+.2f}",
            "wrong->right": len(p["to_correct"]),
            "right->wrong": len(p["to_wrong"]),
            "p (McNemar)": f"{p['p_value']:.3g}",
            "significant": "yes" if p["significant"] else "no",
        }
        for p in compared["paired"]
    ]
    return pd.DataFrame(rows)
