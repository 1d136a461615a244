"""Every run and sweep under a folder, one row each (`cascade runs`): benchmark, items, the three
scorers' accuracy with intervals, MMAR-Rubrics where judged, the published row claimed, tokens and
cost, date. Read from the files runs wrote (through `RunDir`); no model, no re-scoring. A run
directory whose files cannot be read is listed as damaged, with why."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cascade.core import CascadeError
from cascade.run import RunDir, SweepDir
from cascade.run.rundir import CONFIG, METRICS, RESULTS

SCORERS = ("official", "strict", "lenient")
DEPTH = 4
"""How deep under the folder runs are looked for (runs/ablations/<sweep>/runs/<run> is 4)."""


@dataclass(frozen=True)
class RunRow:
    """One run as the listing shows it (accuracies are fractions; None where not known)."""

    name: str
    path: str
    sweep: str | None
    variation: str | None
    """The run's variation of its sweep (from the sweep's sweep.json)."""
    status: str
    """`finished`, `unfinished` (no metrics yet) or `damaged: <why>`."""
    benchmark: str | None = None
    items: int | None = None
    accuracy: dict[str, float | None] | None = None
    ci95: dict[str, list[float] | None] | None = None
    random_expectation: float | None = None
    rubrics: str | None = None
    """MMAR-Rubrics (or the protocol with another judge, labelled so) and its score."""
    rubrics_score: float | None = None
    claim: str | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    date: str | None = None
    report: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def list_runs(folder: Path) -> list[RunRow]:
    """Every run under `folder` (a run directory itself, a sweep, or a folder of either).

    Raises:
        CascadeError: `folder` is not a folder.
    """
    if not folder.is_dir():
        raise CascadeError(
            f"{folder} is not a folder: give the folder your runs are in (default runs/, "
            "`run.output_dir`)"
        )
    return [read_row(path, sweep) for path, sweep in _found(folder, None, 0)]


def _is_run(path: Path) -> bool:
    return RunDir(path).has(CONFIG) or RunDir(path).has(RESULTS)


@dataclass(frozen=True)
class _Sweep:
    name: str
    variations: dict[Path, str]
    """Run directory (resolved) -> variation name."""


def _found(folder: Path, sweep: _Sweep | None, depth: int) -> Iterator[tuple[Path, _Sweep | None]]:
    if _is_run(folder):
        yield folder, sweep
        return
    if depth > DEPTH:
        return
    owner = SweepDir(folder)
    here = _Sweep(folder.name, owner.variations()) if owner.has_record() else sweep
    for child in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        yield from _found(child, here, depth + 1)


def read_row(path: Path, sweep: _Sweep | None = None) -> RunRow:
    """The listing's row of one run directory; a damaged one says why."""
    name = sweep.name if sweep else None
    variation = sweep.variations.get(path.resolve()) if sweep else None
    try:
        return _row(path, name, variation)
    except (CascadeError, OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        why = str(error) or type(error).__name__
        page = RunDir(path).report_html()
        return RunRow(
            path.name,
            str(path),
            name,
            variation,
            f"damaged: {why}",
            report=str(page) if page is not None else None,
        )


def _row(path: Path, sweep: str | None, variation: str | None) -> RunRow:
    run = RunDir(path)
    stored = run.stored_config()
    config = stored.get("config") or {}
    benchmark = (config.get("benchmark") or {}).get("name")
    if not run.has(METRICS):
        return RunRow(path.name, str(path), sweep, variation, "unfinished", benchmark=benchmark)
    metrics = run.metrics()
    summary = run.summary()
    overall = {s: metrics["scorers"][s]["overall"] for s in SCORERS if s in metrics["scorers"]}
    label, score = _rubrics(run)
    cost = summary.get("cost") or {}
    computed = (cost.get("reasoner") or {}).get("computed") or {}
    claim = summary.get("claim")
    return RunRow(
        name=path.name,
        path=str(path),
        sweep=sweep,
        variation=variation,
        status="finished",
        benchmark=metrics.get("benchmark") or benchmark,
        items=metrics.get("n_items"),
        accuracy={s: overall[s].get("accuracy") for s in overall},
        ci95={s: overall[s].get("ci95") for s in overall},
        random_expectation=_random(overall),
        rubrics=label,
        rubrics_score=score,
        claim=None if not claim else claim["row"] if claim.get("holds") else "claim dropped",
        tokens=(computed.get("prompt_tokens") or 0) + (computed.get("completion_tokens") or 0)
        if computed
        else None,
        cost_usd=cost.get("total_cost_usd"),
        date=_date(run.finished_at()),
        report=str(page) if (page := run.report_html()) is not None else None,
    )


def _random(overall: dict[str, Any]) -> float | None:
    """The random-guess expectation of the run's items (the same under every scorer)."""
    for group in overall.values():
        value = group.get("random_expectation")
        return float(value) if value is not None else None
    return None


def _rubrics(run: RunDir) -> tuple[str | None, float | None]:
    """MMAR-Rubrics of the run: the official judge's when it judged, else the first other."""
    records = [summary for summary, _ in run.rubrics_records()]
    records.sort(key=lambda r: r.get("label") != "MMAR-Rubrics")
    for summary in records:
        return str(summary.get("label")), (summary.get("overall") or {}).get("score")
    return None, None


def _date(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).strftime("%Y-%m-%d %H:%M")
