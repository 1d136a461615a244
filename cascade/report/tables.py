"""Tables (pandas) from metrics, and the report.md of a run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pandas as pd

from cascade.core import markdown, pct
from cascade.run import stored_sentence
from cascade.scoring import GROUP_KEYS, SCORERS


def _cell(group: Mapping[str, Any]) -> str:
    lo, hi = group["ci95"]
    mark = "*" if group["significant"] else ""
    return f"{pct(group['accuracy'])}{mark} [{pct(lo)}, {pct(hi)}]"


def headline_table(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """One row per scorer: accuracy with its interval, n, random-guess expectation, p-value."""
    rows = []
    for scorer in SCORERS:
        overall = metrics["scorers"][scorer]["overall"]
        if overall is None:
            continue
        rows.append(
            {
                "scorer": scorer,
                "accuracy % [95% CI]": _cell(overall),
                "n": overall["n"],
                "correct": overall["correct"],
                "random %": pct(overall["random_expectation"]),
                "p vs random": f"{overall['p_value']:.2e}",
                "invalid %": pct(metrics["invalid_rate"].get(scorer))
                if scorer in metrics["invalid_rate"]
                else "",
            }
        )
    return pd.DataFrame(rows)


def group_table(metrics: Mapping[str, Any], key: str) -> pd.DataFrame:
    """One row per value of a group key (modality, layer...), one column per scorer."""
    values = metrics["scorers"]["official"]["by"].get(key, {})
    rows = []
    for value in values:
        first = values[value]
        row: dict[str, Any] = {
            key: value,
            "n": first["n"],
            "random %": pct(first["random_expectation"]),
        }
        for scorer in SCORERS:
            row[f"{scorer} %"] = _cell(metrics["scorers"][scorer]["by"][key][value])
        rows.append(row)
    return pd.DataFrame(rows)


def _samples_row(label: str, group: Mapping[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"": label, "n": group["n"]}
    for scorer in SCORERS:
        mean = group["mean_accuracy"][scorer]
        lo, hi = mean["ci95"]
        row[f"{scorer} mean % [95% CI]"] = f"{pct(mean['mean'])} [{pct(lo)}, {pct(hi)}]"
    for scorer in SCORERS:
        row[f"{scorer} majority %"] = pct(group["majority_accuracy"][scorer])
    row["agreement %"] = pct(group["agreement"])
    row["ties"] = group["ties"]
    return row


def samples_table(metrics: Mapping[str, Any], key: str | None = None) -> pd.DataFrame:
    """Repeated samples: mean accuracy over samples, majority-vote accuracy and agreement,
    overall (`key` None) or one row per value of a group key."""
    section = metrics["samples"]
    if key is None:
        return pd.DataFrame([_samples_row("all", section["overall"])])
    return pd.DataFrame([_samples_row(v, g) for v, g in section["by"].get(key, {}).items()])


def _samples_lines(metrics: Mapping[str, Any]) -> list[str]:
    section = metrics.get("samples")
    if not section:
        return []
    lines = [
        "## Repeated samples",
        "",
        f"{section['k']} answers per item (fewest: {section['min_samples']}). Every table "
        "above scores each item's majority-vote answer (the one in predictions.json); a tie "
        "between answers counts INVALID and wrong. Mean accuracy is over all samples; its "
        "interval is mean +- 1.96 standard errors of the per-item accuracies (samples of one "
        "item are not independent). Agreement: the share of an item's samples that give its "
        "most frequent answer, averaged over items.",
        "",
        markdown(samples_table(metrics)),
    ]
    for key in GROUP_KEYS:
        if section["by"].get(key):
            lines += [f"### By {key}", "", markdown(samples_table(metrics, key))]
    return lines


def _claim_lines(summary: Mapping[str, Any]) -> list[str]:

    line = stored_sentence(summary)
    return [line, ""] if line is not None else []


def skipped_notice(skipped: Mapping[str, str], shown: int | None = None) -> str | None:
    """The sentence naming the items left out before the run (`--skip-missing-audio`): all of
    them, or the first `shown`."""
    if not skipped:
        return None
    listed = list(skipped.items())[:shown]
    more = len(skipped) - len(listed)
    return (
        f"{len(skipped)} items were left out before the run and are in no figure: "
        + "; ".join(f"{item} ({reason})" for item, reason in listed)
        + (f"; and {more} more (summary.json lists them all)" if more else "")
    )


def notices(metrics: Mapping[str, Any], summary: Mapping[str, Any]) -> list[str]:
    """What the reader must know before any number: scripted components and fallbacks (from
    the run), the items left out before it, and how many items have no answer."""
    found = list(summary.get("notices") or metrics.get("notices") or [])
    skipped = skipped_notice(summary.get("skipped") or metrics.get("skipped") or {})
    if skipped is not None:
        found.append(skipped)
    unanswered = summary.get("unanswered")
    if unanswered:
        found.append(
            f"{unanswered} of {summary.get('total')} items have no answer (errors: see "
            "results.jsonl); they count as wrong in every figure below."
        )
    return found


def render_markdown(metrics: Mapping[str, Any], summary: Mapping[str, Any]) -> str:
    """report.md: headline, the figures that qualify it, then every breakdown."""
    scoring = metrics["scoring"]
    lines = [
        f"# {summary.get('name', 'run')} on {metrics['benchmark']}",
        "",
        *(f"> **{notice}**\n" for notice in notices(metrics, summary)),
        f"Items scored: {metrics['n_items']}; pending: {metrics['pending']}; "
        f"skipped before the run: {len(metrics['skipped'])}; errors (counted wrong): "
        f"{metrics['errors']}; truncated answers: {metrics['truncated']}.",
        "",
        *_claim_lines(summary),
        f"`*` = better than random guessing, one-sided exact Poisson-binomial test at "
        f"alpha {scoring['alpha']} / {scoring['family_size']} (Bonferroni). Intervals: "
        f"{scoring['ci']}, 95%.",
        "",
        markdown(headline_table(metrics)),
    ]
    cache = metrics.get("cache") or {}
    if cache:
        lines += [
            "Cache: "
            + "; ".join(
                f"{part}: {counts.get('computed', 0)} computed, {counts.get('reused', 0)} re-used"
                for part, counts in cache.items()
                if isinstance(counts, Mapping)
            ),
            "",
        ]
    titles = {
        "modality": "By modality",
        "category": "By layer",
        "sub-category": "By sub-category",
        "language": "By language",
    }
    for key in GROUP_KEYS:
        lines += [f"## {titles[key]}", "", markdown(group_table(metrics, key))]
    lines += _samples_lines(metrics)
    if metrics["errors_by_stage"]:
        lines += ["## Errors by stage", ""]
        lines += [f"- {stage}: {n}" for stage, n in metrics["errors_by_stage"].items()]
        lines.append("")
    if metrics["skipped"]:
        lines += ["## Skipped items", ""]
        lines += [f"- {item}: {reason}" for item, reason in metrics["skipped"].items()]
        lines.append("")
    return "\n".join(lines)


Layout = Literal["boxed", "compact", "vertical"]


def fits(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int) -> Layout:
    """How a table shows in `width` terminal columns without wrapping a cell: boxed (its
    borders fit), compact (no borders, one space between columns) or vertical (a block of
    `column: value` lines a row)."""
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    if sum(widths) + 3 * len(widths) + 1 <= width:
        return "boxed"
    if sum(widths) + len(widths) - 1 <= width:
        return "compact"
    return "vertical"


def vertical_lines(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Each row as `column: value` lines, the first column heading the block."""
    lines = []
    for row in rows:
        lines.append(f"{columns[0]}: {row[0]}")
        lines += [f"  {c}: {v}" for c, v in zip(columns[1:], row[1:], strict=True)]
    return lines


def cost_sentence(summary: Mapping[str, Any]) -> str | None:
    """The run's tokens and cost (summary.json's `cost`) beside the plan's worst case, in one
    line; None for a summary without them."""
    cost = summary.get("cost")
    if not cost:
        return None
    reasoner = cost["reasoner"]
    made, reused = reasoner["computed"], reasoner["reused"]
    tokens = (
        f"tokens of the {made['requests']} answers computed: prompt {made['prompt_tokens']:,} "
        f"(cached {made['cached_tokens']:,}), completion {made['completion_tokens']:,} "
        f"(reasoning {made['reasoning_tokens']:,})"
    )
    if reasoner["price"] is None:
        return f"{tokens}; cost unknown: {cost['note']}"
    estimate = cost.get("estimate") or {}
    planned = estimate.get("cost_usd_worst")
    beside = f" (the plan's worst case: ${planned:,.4f})" if planned is not None else ""
    return (
        f"{tokens}; cost ${cost['total_cost_usd']:,.4f}{beside}; the {reused['requests']} "
        f"answers re-used from the cache saved ${reused['saved_usd']:,.4f}"
    )
