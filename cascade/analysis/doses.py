"""Dose-response of a sweep: accuracy (and cue coverage) at each level of a degradation.

A sweep's `doses` expand into one variation per level (`ablate.expand`); this module gathers
their rows of the sweep table (accuracy with its 95% interval, n, the random-guess expectation,
all computed once by `sweep_table`) into one table per degradation, ordered by level, and adds
the runs' cue coverage when a run directory holds one (`cues-<measure>.json`, written by
`cascade cues`). Pure functions besides the
reading of those files.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from cascade.analysis.sweep_table import ALL
from cascade.core import CascadeError, markdown, pct
from cascade.run import CUES_PREFIX, RunDir

COLUMNS = (
    "dose",
    "key",
    "level",
    "variation",
    "scorer",
    "n",
    "correct",
    "accuracy",
    "ci_low",
    "ci_high",
    "random",
    "coverage",
    "coverage_n",
    "coverage_low",
    "coverage_high",
    "coverage_measure",
)


class Dose(Protocol):
    """What the table needs of a sweep's dose (`ablate.DoseSpec`)."""

    name: str
    key: str
    levels: list[float]

    def variation(self, level: float) -> str: ...


@dataclass(frozen=True)
class Coverage:
    """A run's mean cue coverage over its items with cues, as `cascade cues` wrote it."""

    measure: str
    mean: float
    n: int
    low: float
    high: float


def cue_coverage(run_dir: Path) -> Coverage | None:
    """The overall cue coverage of a run, from its `cues-<measure>.json` (`cascade cues`).

    The lexical measure when the run has it, else the first other file by name; its `coverage`
    group `all` (mean item coverage, items, 95% interval) is taken as written, not recomputed.
    Returns None when the run has no such file, or no item with cues.

    Raises:
        CascadeError: the file is not JSON of that shape.
    """
    run = RunDir(run_dir)
    files = run.cue_files()
    if not files:
        return None
    path = files[0]
    try:
        data = run.read_cues(path.name)
        overall = [g for g in data["coverage"] if g["group"] == "all"]
        if not overall:
            return None
        (group,) = overall
        low, high = group["ci95"]
        measure = str(data.get("measure") or path.stem.removeprefix(CUES_PREFIX))
        return Coverage(measure, float(group["coverage"]), int(group["items"]), low, high)
    except (ValueError, KeyError, TypeError) as error:
        raise CascadeError(
            f"{path}: not a cue coverage file ({type(error).__name__}: {error}); run "
            "`cascade cues` on that run again, or delete the file"
        ) from None


def dose_table(
    doses: Sequence[Dose], table: pd.DataFrame, run_dirs: Mapping[str, Path]
) -> pd.DataFrame:
    """One row per dose, level and scorer with the level's overall figures from the sweep
    table; levels whose variation did not finish are left out."""
    overall = table[table["group"] == ALL] if not table.empty else table
    rows: list[dict[str, Any]] = []
    for dose in doses:
        for level in dose.levels:
            variation = dose.variation(level)
            mine = overall[overall["variation"] == variation]
            if mine.empty:
                continue
            coverage = cue_coverage(run_dirs[variation]) if variation in run_dirs else None
            covered: dict[str, Any] = dict.fromkeys(COLUMNS[-5:])
            if coverage is not None:
                covered |= {
                    "coverage": coverage.mean,
                    "coverage_n": coverage.n,
                    "coverage_low": coverage.low,
                    "coverage_high": coverage.high,
                    "coverage_measure": coverage.measure,
                }
            for record in mine.to_dict("records"):
                rows.append(
                    {
                        "dose": dose.name,
                        "key": dose.key,
                        "level": level,
                        "variation": variation,
                        **{c: record.get(c) for c in COLUMNS[4:11]},
                        **covered,
                    }
                )
    return pd.DataFrame(rows, columns=list(COLUMNS))


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def to_json(doses: Sequence[Dose], found: pd.DataFrame, axes: Mapping[str, str]) -> dict[str, Any]:
    """dose_response.json: per dose its key, what the level means, and its rows."""
    out = []
    for dose in doses:
        mine = found[found["dose"] == dose.name]
        rows = [
            {k: (None if _missing(v) else v) for k, v in record.items() if k not in ("dose", "key")}
            for record in mine.to_dict("records")
        ]
        out.append({"name": dose.name, "key": dose.key, "axis": axes[dose.key], "rows": rows})
    return {"doses": out}


def render_markdown(found: pd.DataFrame, axes: Mapping[str, str], scorer: str) -> str:
    """The dose-response section of a sweep's table.md (one scorer)."""
    if found.empty:
        return ""
    lines = [f"## Dose-response ({scorer})", ""]
    for dose in dict.fromkeys(found["dose"]):
        mine = found[(found["dose"] == dose) & (found["scorer"] == scorer)]
        key = str(mine["key"].iloc[0])
        has_coverage = not mine["coverage"].map(_missing).all()
        rows = []
        for record in mine.to_dict("records"):
            row = {
                "level": f"{record['level']:g}",
                "n": record["n"],
                "accuracy % [95% CI]": (
                    f"{pct(record['accuracy'])} [{pct(record['ci_low'])}, {pct(record['ci_high'])}]"
                ),
                "random %": pct(record["random"]),
            }
            if has_coverage:
                row["cue coverage % [95% CI]"] = (
                    "–"
                    if _missing(record["coverage"])
                    else f"{pct(record['coverage'])} [{pct(record['coverage_low'])}, "
                    f"{pct(record['coverage_high'])}] (n={int(record['coverage_n'])}, "
                    f"{record['coverage_measure']})"
                )
            rows.append(row)
        lines += [f"### {dose}: `{key}` ({axes[key]})", "", markdown(pd.DataFrame(rows))]
    return "\n".join(lines)
