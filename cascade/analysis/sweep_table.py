"""The results table of a sweep: every variation against the base, with exact paired tests.

One row per variation, scorer and group ("all", or e.g. "modality=speech" on request): accuracy
with its 95% interval and n, the difference from the base on the items both answered, the exact
McNemar p-value and its Bonferroni correction for the number of variations, the invalid-answer
rate, and the items that flipped each way. Pure functions of the runs' stored answers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cascade.core import Item, markdown, pct
from cascade.run import Scorable
from cascade.scoring import (
    PAIRED_ALPHA,
    PRIMARY,
    ItemResult,
    ScoringSpec,
    group_stats,
    invalid_sentence,
    paired_test,
    readings,
    score_answer,
    scorer_named,
    scorer_names,
)

ALL = "all"


@dataclass(frozen=True)
class ItemOutcomes:
    """One run's verdicts per scorer, its invalid answers per reading (a scorer with a ladder),
    by item id."""

    correct: Mapping[str, Mapping[str, bool]]
    invalid: Mapping[str, Mapping[str, bool]]
    items: Mapping[str, Item]


def item_outcomes(run: Scorable) -> ItemOutcomes:
    names = scorer_names()
    correct: dict[str, dict[str, bool]] = {s: {} for s in names}
    invalid: dict[str, dict[str, bool]] = {m: {} for m in readings()}
    for item in run.items:
        if item.id not in run.results:
            continue
        scored = score_answer(item, ItemResult.from_json(run.results[item.id]))
        for scorer in names:
            correct[scorer][item.id] = scored.correct[scorer]
        for method, flag in scored.invalid.items():
            invalid[method][item.id] = flag
    return ItemOutcomes(correct, invalid, {i.id: i for i in run.items})


def _groups(outcomes: ItemOutcomes, by: Sequence[str]) -> list[tuple[str, set[str]]]:
    groups: list[tuple[str, set[str]]] = [(ALL, set(outcomes.items))]
    for key in by:
        values: dict[str, set[str]] = {}
        for item in outcomes.items.values():
            values.setdefault(item.groups[key], set()).add(item.id)
        groups += [(f"{key}={value}", ids) for value, ids in sorted(values.items())]
    return groups


def sweep_table(
    runs: Sequence[tuple[str, Scorable]],
    *,
    scoring: ScoringSpec,
    alpha: float = PAIRED_ALPHA,
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """The long table of a sweep; the first run is the base.

    The paired figures are `stats.paired_test`'s (the same test as `cascade compare`):
    `p_bonferroni` is min(1, p * m) with m the number of variations besides the base, and
    `significant` compares it with `alpha`.
    """
    if not runs:
        raise ValueError("a sweep table needs at least the base run")
    outcomes = [(name, item_outcomes(run)) for name, run in runs]
    base_name, base = outcomes[0]
    m = max(1, len(runs) - 1)
    rows: list[dict[str, Any]] = []
    for name, run in outcomes:
        for scorer in scorer_names():
            for group, ids in _groups(base, by):
                rows.append(_row(name, base_name, run, base, scorer, group, ids, scoring, alpha, m))
    return pd.DataFrame(rows)


def _row(
    name: str,
    base_name: str,
    run: ItemOutcomes,
    base: ItemOutcomes,
    scorer: str,
    group: str,
    ids: set[str],
    scoring: ScoringSpec,
    alpha: float,
    m: int,
) -> dict[str, Any]:
    verdicts = {i: v for i, v in run.correct[scorer].items() if i in ids}
    row: dict[str, Any] = {"variation": name, "scorer": scorer, "group": group, "n": len(verdicts)}
    if not verdicts:
        return row
    order = list(verdicts)
    stats = group_stats(
        [verdicts[i] for i in order],
        [len(run.items[i].choices) for i in order],
        alpha=scoring.alpha,
        family_size=scoring.family_size,
        ci=scoring.ci_method,
        bootstrap_samples=scoring.bootstrap_samples,
        seed=scoring.seed,
    )
    invalid = run.invalid[scorer_named(scorer).invalid_when]
    row |= {
        "correct": stats.correct,
        "accuracy": stats.accuracy,
        "ci_low": stats.ci95[0],
        "ci_high": stats.ci95[1],
        "random": stats.random_expectation,
        "invalid_rate": sum(invalid[i] for i in order) / len(order),
    }
    if name == base_name:
        return row
    base_verdicts = {i: v for i, v in base.correct[scorer].items() if i in ids}
    tested = paired_test(base_verdicts, verdicts, comparisons=m, alpha=alpha)
    paired = tested.comparison
    return row | {
        "n_paired": paired.n,
        "difference": paired.difference,
        "wrong_to_right": paired.only_b,
        "right_to_wrong": paired.only_a,
        "p_mcnemar": paired.p_value,
        "p_bonferroni": tested.p_bonferroni,
        "significant": tested.significant,
    }


def flips(runs: Sequence[tuple[str, Scorable]]) -> dict[str, dict[str, dict[str, list[str]]]]:
    """Per variation and scorer: the items that went wrong->right and right->wrong vs the base,
    and the items it answered right."""
    outcomes = [(name, item_outcomes(run)) for name, run in runs]
    _, base = outcomes[0]
    found: dict[str, dict[str, dict[str, list[str]]]] = {}
    for name, run in outcomes:
        found[name] = {}
        for scorer in scorer_names():
            right = [i for i, ok in run.correct[scorer].items() if ok]
            entry: dict[str, list[str]] = {"correct": right}
            if run is not base:
                paired = paired_test(base.correct[scorer], run.correct[scorer], comparisons=1)
                entry |= {
                    "wrong_to_right": list(paired.comparison.to_correct),
                    "right_to_wrong": list(paired.comparison.to_wrong),
                }
            found[name][scorer] = entry
    return found


def _fmt_p(value: Any) -> str:
    return (
        "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3g}"
    )


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The long table formatted for reading (percentages, intervals, p-values)."""
    rows = []
    for record in table.to_dict("records"):
        has = record.get("accuracy") is not None and not _missing(record.get("accuracy"))
        paired = not _missing(record.get("difference"))
        rows.append(
            {
                "variation": record["variation"],
                "scorer": record["scorer"],
                "group": record["group"],
                "n": record["n"],
                "accuracy % [95% CI]": (
                    f"{pct(record['accuracy'])} [{pct(record['ci_low'])}, {pct(record['ci_high'])}]"
                    if has
                    else "–"
                ),
                "Δ vs base (pts)": f"{100 * record['difference']:+.2f}" if paired else "",
                "p McNemar": _fmt_p(record.get("p_mcnemar")) if paired else "",
                "p × m": _fmt_p(record.get("p_bonferroni")) if paired else "",
                "sig.": ("yes" if record["significant"] else "no") if paired else "",
                "wrong→right": int(record["wrong_to_right"]) if paired else "",
                "right→wrong": int(record["right_to_wrong"]) if paired else "",
                "invalid %": pct(record["invalid_rate"]) if has else "–",
            }
        )
    return pd.DataFrame(rows)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def compact_table(table: pd.DataFrame, scorer: str = PRIMARY) -> pd.DataFrame:
    """One line per variation (overall): every scorer's accuracy, and the paired figures of one
    scorer; for a terminal."""
    overall = table[table["group"] == ALL]
    rows = []
    for variation in dict.fromkeys(overall["variation"]):
        mine = overall[overall["variation"] == variation].set_index("scorer")
        row: dict[str, Any] = {"variation": variation, "n": int(mine.loc[scorer, "n"])}
        for name in scorer_names():
            row[f"{name} %"] = pct(mine.loc[name, "accuracy"])
        chosen = mine.loc[scorer]
        paired = not _missing(chosen.get("difference"))
        row |= {
            f"Δ {scorer} (pts)": f"{100 * chosen['difference']:+.2f}" if paired else "",
            "p × m": _fmt_p(chosen.get("p_bonferroni")) if paired else "",
            "w→r": int(chosen["wrong_to_right"]) if paired else "",
            "r→w": int(chosen["right_to_wrong"]) if paired else "",
            f"invalid % ({scorer})": pct(chosen["invalid_rate"]),
        }
        rows.append(row)
    return pd.DataFrame(rows)


def work_table(summaries: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """What each variation's run computed versus re-used in this invocation."""
    rows = []
    for name, summary in summaries.items():
        stages, answers = summary.get("stages") or {}, summary.get("reasoner") or {}
        rows.append(
            {
                "variation": name,
                "items": summary.get("total", ""),
                "already done": summary.get("resumed", ""),
                "stage outputs computed": stages.get("computed", ""),
                "stage outputs re-used": stages.get("reused", ""),
                "answers computed": answers.get("computed", ""),
                "answers re-used": answers.get("reused", ""),
                "error": summary.get("error") or "",
            }
        )
    return pd.DataFrame(rows)


def render_markdown(
    name: str,
    table: pd.DataFrame,
    found_flips: Mapping[str, Mapping[str, Mapping[str, Sequence[str]]]],
    summaries: Mapping[str, Mapping[str, Any]],
    *,
    alpha: float,
    text_only: Sequence[str] = (),
    scorer: str = PRIMARY,
) -> str:
    """table.md of a sweep: an overview, the results table, the work done, the flipped items."""

    variations = list(dict.fromkeys(table["variation"])) if not table.empty else []
    m = max(1, len(variations) - 1)
    lines = [
        f"# Sweep {name}",
        "",
        f"{len(variations)} runs: the base and {len(variations) - 1} variation(s). Differences "
        "are against the base on the items both answered; p: exact two-sided McNemar test; "
        f"p × m: Bonferroni-corrected for m = {m} variations; sig.: p × m < {alpha}. Errors and "
        f"unparseable answers count as wrong; invalid % is {invalid_sentence()}.",
        "",
        f"## Overview (paired figures for the {scorer} scorer)",
        "",
        markdown(compact_table(table, scorer)),
        "## Every scorer and group",
        "",
        markdown(display_table(table)),
        "## Work done by this invocation",
        "",
        markdown(work_table(summaries)),
    ]
    for variation in text_only:
        right = found_flips.get(variation, {}).get(scorer, {}).get("correct", [])
        lines += [
            f"## Answered right without hearing anything ({variation}, {scorer})",
            "",
            ", ".join(right) if right else "(none)",
            "",
        ]
    lines += [f"## Flipped items ({scorer})", ""]
    for variation, by_scorer in found_flips.items():
        strict = by_scorer.get(scorer, {})
        if "wrong_to_right" not in strict:
            continue
        lines.append(
            f"- {variation}: wrong→right {', '.join(strict['wrong_to_right']) or '–'}; "
            f"right→wrong {', '.join(strict['right_to_wrong']) or '–'}"
        )
    lines.append("")
    return "\n".join(lines)
