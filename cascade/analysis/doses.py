"""Dose-response of a sweep: accuracy (and cue coverage) at each level of a degradation.

A sweep's `doses` expand into one variation per level (`ablate.expand`); this module gathers
their rows of the sweep table (accuracy with its 95% interval, n, the random-guess expectation,
all computed once by `sweep_table`) into one table per degradation, ordered by level, and adds
the runs' cue coverage when a run directory holds `cues.json`. Pure functions besides the
reading of those files.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from cascade.analysis.sweep_table import ALL
from cascade.core import CascadeError, markdown, pct

CUES_JSON = "cues.json"
DOSE_CSV = "dose_response.csv"
DOSE_JSON = "dose_response.json"
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
)


class Dose(Protocol):
    """What the table needs of a sweep's dose (`ablate.DoseSpec`)."""

    name: str
    key: str
    levels: list[float]

    def variation(self, level: float) -> str: ...


def cue_coverage(run_dir: Path) -> tuple[float, int, float, float] | None:
    """Mean cue coverage of a run's items with its 95% interval, from its `cues.json`.

    Reads the `coverage` (0 to 1) of each record in the file's `items` (a list, or a mapping
    by item id); records without a number are left out. Returns None when the run has no
    `cues.json` or no item with a coverage. The interval is the normal one of a mean, clipped
    to [0, 1].

    Raises:
        CascadeError: the file exists but is not JSON of that shape.
    """
    path = run_dir / CUES_JSON
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        records = data["items"] if isinstance(data, dict) else data
        if isinstance(records, dict):
            records = list(records.values())
        values = [
            float(r["coverage"])
            for r in records
            if isinstance(r.get("coverage"), int | float) and not isinstance(r["coverage"], bool)
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise CascadeError(
            f"{path}: not a cue coverage file ({type(error).__name__}: {error}); run "
            "`cascade cues` on that run again or delete the file"
        ) from None
    if not values:
        return None
    n = len(values)
    mean = sum(values) / n
    spread = 1.96 * math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n) if n > 1 else 0.0
    return mean, n, max(0.0, mean - spread), min(1.0, mean + spread)


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
            covered: dict[str, Any] = dict(zip(COLUMNS[-4:], coverage or (None,) * 4, strict=True))
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
                    f"{pct(record['coverage_high'])}] (n={int(record['coverage_n'])})"
                )
            rows.append(row)
        lines += [f"### {dose}: `{key}` ({axes[key]})", "", markdown(pd.DataFrame(rows))]
    return "\n".join(lines)
