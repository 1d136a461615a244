"""`cascade score`: re-score a run directory or an official-format predictions file with every
scorer and all statistics, and write what was asked for; needs no model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cascade.commands.display import Display, Quiet
from cascade.core import CascadeError, ConfigError, ItemsFailed
from cascade.report import render_markdown, write_run_report
from cascade.run import RunDir, Scorable, rescore
from cascade.scoring import ScoringSpec, compute_metrics


@dataclass(frozen=True)
class Scored:
    """A re-scored run or file: its metrics (metrics.json's content) and the pages written."""

    scorable: Scorable
    metrics: dict[str, Any]
    page: Path | None = None
    """The run's report.html, when it was rewritten (`html`)."""


def scoring_spec(
    stored: ScoringSpec | None, alpha: float | None, family: int | None
) -> ScoringSpec:
    """The scoring settings a run was made with (`stored`; defaults for a predictions file),
    with the command line's `--alpha` / `--family-size` over them, validated."""
    values: dict[str, Any] = stored.model_dump() if stored is not None else {}
    if alpha is not None:
        values["alpha"] = alpha
    if family is not None:
        values["family_size"] = family
    try:
        return ScoringSpec.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in error.errors()
        )
        raise ConfigError(f"invalid scoring option: {problems}") from None


def score(
    path: Path,
    *,
    alpha: float | None = None,
    family_size: int | None = None,
    output: Path | None = None,
    html: bool = False,
    display: Display | None = None,
) -> Scored:
    """Re-score `path` (a run directory or a predictions file); with `output`, also write
    metrics.json and report.md there (read back like a run's own), with `html` rewrite the run's
    report.html. Notices about how the run was read go to `display` first."""
    scorable = rescore.load(path)
    for notice in scorable.notices:
        (display or Quiet()).notice(notice)
    spec = scoring_spec(scorable.scoring, alpha, family_size)
    page = None
    if html:
        if not path.is_dir():
            raise CascadeError(f"--html needs a run directory; {path} is a predictions file")
        page = write_run_report(path)
    metrics = compute_metrics(
        scorable.items,
        scorable.results,
        spec,
        benchmark=scorable.benchmark,
        samples=scorable.samples,
    )
    metrics["missing_prediction"] = list(scorable.missing_prediction)
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        written = RunDir(output)
        written.write_metrics(metrics)
        written.write_report_md(
            render_markdown(metrics, {**scorable.summary, "name": scorable.name})
        )
    return Scored(scorable, metrics, page)


def check_scored(scored: Scored) -> None:
    """Exit code 3 when the scored run or file has items without an answer: an error, an empty
    prediction, or no prediction at all."""
    scorable = scored.scorable
    empty = scorable.unanswered()
    missing = len(scorable.missing_prediction)
    if empty or missing:
        total = len(scorable.results) + missing
        raise ItemsFailed(
            f"{len(empty) + missing} of {total} items of {scorable.name} have no answer "
            f"({len(empty)} failed or empty, e.g. {', '.join(empty[:3]) or '-'}; {missing} "
            "without a prediction): they count as wrong, or are skipped when the prediction is "
            "missing. The scores above are written; re-run the run (it retries failed items) or "
            "fix the predictions file.",
            len(empty) + missing,
        )
