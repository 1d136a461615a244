"""Compare runs on the same items: accuracy side by side, exact paired tests, flipped items."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from cascade.core import CascadeError, pct
from cascade.run import Scorable
from cascade.scoring import (
    PAIRED_ALPHA,
    PRIMARY,
    ScoringSpec,
    compute_metrics,
    outcomes,
    paired_scores,
    paired_test,
    scorer_named,
    scorer_names,
)


def shared_items(runs: Sequence[tuple[str, Scorable]]) -> list[str]:
    """The ids every run scored, in the base run's order.

    Raises:
        CascadeError: when some run shares no item with the base.
    """
    (base_label, base), *others = runs
    shared = [i.id for i in base.items]
    for label, run in others:
        theirs = {i.id for i in run.items}
        if not any(i in theirs for i in shared):
            raise CascadeError(
                f"{label} shares no item with {base_label} ({len(run.items)} and "
                f"{len(base.items)} items): compare runs of the same benchmark"
            )
        shared = [i for i in shared if i in theirs]
    if not shared:
        raise CascadeError(f"the runs {[label for label, _ in runs]} have no item in common")
    return shared


def _restricted(run: Scorable, ids: set[str]) -> Scorable:
    return replace(run, items=tuple(i for i in run.items if i.id in ids))


def compare(
    runs: Sequence[tuple[str, Scorable]],
    *,
    alpha: float = PAIRED_ALPHA,
    scoring: ScoringSpec | None = None,
) -> dict[str, Any]:
    """Every run's metrics and each later run against the first, per scorer, on shared items.

    Runs are labelled by the caller (their directory or file, never their config name, which
    two runs can share). Only the items every run scored are compared, accuracies included;
    `shared` says how many each run had. Each run is scored with its own stored settings
    (`Scorable.scoring`), or `scoring` when given. Paired tests are `stats.paired_test`, the
    one shared with ablation sweeps: exact McNemar, Bonferroni over the runs compared with the
    base, at `alpha`. A run with several samples per item enters the paired test with each
    item's majority-vote correctness (a tie counts wrong; `cascade.scoring.samples`), the answer
    its predictions.json holds; its metrics add the `samples` section.

    Raises:
        CascadeError: with fewer than two runs, or runs that share no item.
    """
    if len(runs) < 2:
        raise CascadeError("compare needs at least two runs")
    ids = shared_items(runs)
    kept = set(ids)
    restricted = [(label, _restricted(run, kept)) for label, run in runs]
    table = [outcomes(r.items, r.results) for _, r in restricted]
    comparisons = len(runs) - 1
    base_label = runs[0][0]
    pairs = []
    for index in range(1, len(runs)):
        for scorer in scorer_names():
            tested = paired_test(
                table[0][scorer], table[index][scorer], comparisons=comparisons, alpha=alpha
            )
            pairs.append(
                {"base": base_label, "run": restricted[index][0], "scorer": scorer}
                | tested.to_json()
            )
    return {
        "runs": [
            {
                "name": label,
                "benchmark": r.benchmark,
                "metrics": compute_metrics(
                    r.items,
                    r.results,
                    scoring or r.scoring or ScoringSpec(),
                    benchmark=r.benchmark,
                    samples=r.samples,
                ),
            }
            for label, r in restricted
        ],
        "shared": {
            "n": len(ids),
            "items_per_run": {label: len(run.items) for label, run in runs},
            "partial": any(len(run.items) != len(ids) for _, run in runs),
        },
        "alpha": alpha,
        "comparisons": comparisons,
        "paired": pairs,
    }


def shared_note(compared: dict[str, Any]) -> str | None:
    """A sentence for partly overlapping runs (None when every run scored the same items)."""
    shared = compared["shared"]
    if not shared["partial"]:
        return None
    counts = ", ".join(f"{label} {n}" for label, n in shared["items_per_run"].items())
    return (
        f"The runs scored different items ({counts}): every accuracy and test here is on the "
        f"{shared['n']} items they share only."
    )


def accuracy_table(compared: dict[str, Any]) -> pd.DataFrame:
    rows = []
    reading = scorer_named(PRIMARY).invalid_when
    for run in compared["runs"]:
        metrics = run["metrics"]
        row: dict[str, Any] = {"run": run["name"], "n": metrics["n_items"]}
        for scorer in scorer_names():
            overall = metrics["scorers"][scorer]["overall"]
            row[f"{scorer} %"] = pct(overall["accuracy"]) if overall else "–"
        row[f"invalid % ({reading})"] = pct(metrics["invalid_rate"][reading])
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
            "p × m": f"{p['p_bonferroni']:.3g}",
            "significant": "yes" if p["significant"] else "no",
        }
        for p in compared["paired"]
    ]
    return pd.DataFrame(rows)


def rubric_pairs(paths: Sequence[Path], *, alpha: float = PAIRED_ALPHA) -> list[dict[str, Any]]:
    """Paired tests of MMAR-Rubrics scores (`stats.paired_scores`) for each later run against
    the first, one per protocol and judge that scored every run (a run directory's
    `rubrics-*.json`): only numbers made the same way are compared, on the items both evaluated."""
    from cascade.run import RunDir

    by_run: list[dict[str, dict[str, float]]] = []
    for path in paths:
        found: dict[str, dict[str, float]] = {}
        if path.is_dir():
            for summary, lines in RunDir(path).rubrics_records():
                found[summary["label"]] = {str(line["id"]): line["score"] for line in lines}
        by_run.append(found)
    labels = [k for k in by_run[0] if all(k in run for run in by_run[1:])]
    pairs = []
    for label in labels:
        for index in range(1, len(paths)):
            tested = paired_scores(
                by_run[0][label], by_run[index][label], comparisons=len(paths) - 1, alpha=alpha
            )
            pairs.append(
                {"base": str(paths[0]), "run": str(paths[index]), "judged_by": label} | tested
            )
    return pairs


def rubric_table(pairs: Sequence[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "run": p["run"],
                "vs": p["base"],
                "judged by": p["judged_by"],
                "n": p["n"],
                "score": f"{100 * p['b_mean']:.2f} vs {100 * p['a_mean']:.2f}",
                "difference": f"{100 * p['difference']:+.2f}",
                "p (Wilcoxon)": f"{p['p_value']:.3g}",
                "p × m": f"{p['p_bonferroni']:.3g}",
                "significant": "yes" if p["significant"] else "no",
            }
            for p in pairs
        ]
    )
