"""`cascade cues`: the cue coverage of a run's descriptions (MMAR `cue`) and why its wrong answers
were wrong, for one run or every run of a sweep folder."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from cascade.analysis import CueResult, caption_quality, measure_run
from cascade.commands.display import Display
from cascade.core import ItemsFailed, Reasoner
from cascade.report import finished, write_run_reports
from cascade.run import RunDir, SweepDir


def cues(
    path: Path,
    judge: str | None = None,
    *,
    reasoner: Reasoner | None = None,
    oracle: Path | None = None,
    scorer: str = "strict",
    overrides: Sequence[str] = (),
    cache_dir: Path | None = None,
    executor: str | None = None,
    display: Display | None = None,
) -> list[CueResult]:
    """Measure the cue coverage of a run (or of every run of a sweep folder) and attribute its
    wrong answers (`measure_run`), then rewrite each run's report.md and report.html. With a
    `display` and a judge model, third-party output goes to the folder's cascade.log."""
    with (
        display.logged(_log(path), f"cascade cues {path.name} --judge {judge}")
        if display is not None and judge is not None and path.is_dir()
        else contextlib.nullcontext()
    ):
        results = []
        for run_dir in caption_quality.run_dirs(path):
            results.append(
                measure_run(
                    run_dir,
                    judge,
                    reasoner=reasoner,
                    oracle=oracle,
                    scorer=scorer,
                    overrides=overrides,
                    cache_dir=cache_dir,
                    executor=executor,
                )
            )
            if finished(run_dir):
                write_run_reports(run_dir)
    return results


def _log(path: Path) -> Path:
    """The cascade.log of a run directory, or of a sweep folder."""
    return RunDir(path).log_path if caption_quality.is_run(path) else SweepDir(path).log_path


def check_cues(results: Sequence[CueResult]) -> None:
    """Exit code 3 when cues have no verdict (a judge call failed or its reply could not be
    read): the same command again retries those calls."""
    unjudged = [(r, i) for r in results for i in r.unjudged]
    if unjudged:
        first = unjudged[0][0]
        raise ItemsFailed(
            f"{len(unjudged)} items have cues without a verdict (a judge call failed or its "
            f"reply could not be read; e.g. {', '.join(i for _, i in unjudged[:3])}): see "
            f"`judge_calls` in {first.file}. Failed judge calls are retried by running the same "
            "command again (replies that were read are cached).",
            len(unjudged),
        )
