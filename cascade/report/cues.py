"""The caption-quality section of report.md: cue coverage, error attribution beside the paper's
published breakdown, and accuracy conditioned on coverage (from `cues-<measure>.json`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cascade.core import CascadeError, markdown, pct
from cascade.run import RunDir

_CAUSES = ("perception", "reasoning", "unknown", "failed")


def _interval(value: float, ci: Sequence[float]) -> str:
    return f"{pct(value)} [{pct(ci[0])}, {pct(ci[1])}]"


def _share(cell: Mapping[str, Any]) -> str:
    return f"{cell['count']} ({_interval(cell['share'], cell['ci95'])})"


def coverage_frame(record: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "group": g["group"],
                "items": g["items"],
                "cues": g["cues"],
                "coverage % [95% CI]": _interval(g["coverage"], g["ci95"]),
            }
            for g in record["coverage"]
        ]
    )


def attribution_frame(record: Mapping[str, Any]) -> pd.DataFrame:
    rows = []
    for g in record["attribution"]:
        row: dict[str, Any] = {"group": g["group"], "wrong": g["wrong"]}
        row |= {f"{c} % [95% CI]": _share(g[c]) for c in _CAUSES}
        if "front-end loss" in g:
            row["front-end loss (oracle right)"] = (
                f"{_share(g['front-end loss'])} of {g['oracle_n']}"
            )
        rows.append(row)
    published = record["published"]["shares"]
    rows.append(
        {"group": "MMAR paper (published)", "wrong": ""}
        | {f"{c} % [95% CI]": pct(published[c]) if c in published else "n/a" for c in _CAUSES}
    )
    return pd.DataFrame(rows).fillna("")


def level_frame(record: Mapping[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "cues covered": r["level"],
                "n": r["n"],
                "correct": r["correct"],
                "accuracy % [95% CI]": _interval(r["accuracy"], r["ci95"]),
            }
            for r in record["by_level"]["rows"]
        ]
    )


def _test_line(by_level: Mapping[str, Any]) -> str:
    test = by_level["test"]
    if test is None:
        return (
            "Does coverage predict correctness? Not tested: fewer than two coverage levels "
            "have items, or every item is right or every item is wrong."
        )
    rough = " (some expected count is below 5: the approximation is rough)"
    return (
        f"Does coverage predict correctness? {test['test']}: chi2 = {test['statistic']:.3f}, "
        f"dof {test['dof']}, p = {test['p_value']:.3g}"
        + (rough if test["min_expected"] < 5 else "")
        + "."
    )


def cues_markdown(record: Mapping[str, Any]) -> str:
    """One `## Caption quality` section for one measure."""
    measure = record["measure"]
    how = (
        f"lexical: a cue counts as covered when at least {pct(record['threshold'])}% of its "
        "content words (stop-words removed) occur in one stage's text"
        if measure == "lexical"
        else f"judge {record['judge']} ({record['prompt']}): a yes/no verdict per cue and stage"
    )
    by_level = record["by_level"]
    lines = [
        f"## Caption quality: cue coverage ({measure})",
        "",
        f"Measure: {how}. Items: "
        + "; ".join(f"{k} {v}" for k, v in sorted(record["statuses"].items()))
        + ". Coverage is the mean over items of covered cues / annotated cues; intervals: t, "
        "95%, over items.",
        "",
        markdown(coverage_frame(record)),
        f"### Why answers were wrong ({measure}; scorer: {record['scorer']})",
        "",
        "perception: a cue is missing from the description; reasoning: every cue is there; "
        "unknown: no cue annotation, or no verdict; failed: no answer. Intervals: Wilson, 95%."
        + (f" Oracle run: {record['oracle']}." if record.get("oracle") else ""),
        "",
        markdown(attribution_frame(record)),
        f"Published figures: {record['published']['note']}",
        "",
        f"### Accuracy by cue coverage ({measure}; scorer: {by_level['scorer']})",
        "",
        markdown(level_frame(record)) if by_level["rows"] else "(no item with known coverage)\n",
        _test_line(by_level),
        "",
    ]
    return "\n".join(lines)


def cues_section(run: RunDir, path: Path) -> str:
    """The section of one `cues-<measure>.json` of `run`; a file that cannot be read is named in
    a notice instead (the run's report does not depend on it)."""
    try:
        return cues_markdown(run.read_cues(path.name))
    except (OSError, ValueError, KeyError, TypeError, IndexError, CascadeError) as error:
        return (
            f"## Caption quality: {path.name}\n\n> **{path.name} could not be shown "
            f"({type(error).__name__}: {error}); run `cascade cues` on this run again, or "
            "delete the file.**\n"
        )
