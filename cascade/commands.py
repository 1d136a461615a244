"""Each command's work from start to written reports, for the CLI and for library users.

The run layer runs and the analysis layer analyses; the reports are rendered after them, from
the files they wrote. `cli.py` parses arguments and prints; these functions do the work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cascade.analysis import (
    JUDGE_PROMPT,
    JUDGE_SAMPLES,
    CueResult,
    JudgeResult,
    Outcome,
    Sweep,
    SweepResults,
    ablate,
    caption_quality,
    judge_run,
    measure_run,
    rubrics,
)
from cascade.analysis.runs import RunRow
from cascade.core import Cache, CascadeError, FailureRateExceeded, Interrupted, Reasoner
from cascade.report import finished, write_run_report, write_run_reports, write_sweep_report
from cascade.run import ComponentPool, Phase, Progress, RunConfig, RunSummary, pipeline


def run(
    config: RunConfig,
    *,
    progress: Progress | None = None,
    cache: Cache | None = None,
    pool: ComponentPool | None = None,
    phase: Phase | None = None,
) -> RunSummary:
    """Run (or resume) the cascade described by `config`, then write report.md and report.html.

    A run stopped by the failure-rate limit or an interrupt has written its results so far:
    its reports are written from them before the error goes on.
    """
    try:
        summary = pipeline.execute(config, progress=progress, cache=cache, pool=pool, phase=phase)
    except (FailureRateExceeded, Interrupted):
        run_dir = pipeline.run_directory(config)
        if finished(run_dir):
            write_run_reports(run_dir)
        raise
    write_run_reports(summary.run_dir)
    return summary


def run_together(
    configs: Sequence[RunConfig],
    *,
    progress: Callable[[int], Progress | None] | None = None,
    phase: Phase | None = None,
) -> list[RunSummary | CascadeError]:
    """Run several configs as one job of their executor (`pipeline.execute_together`: a sweep
    under an executor that shares work, Ray), then write every run's report.md and report.html,
    a failed run's from its results so far."""
    try:
        outcomes = pipeline.execute_together(configs, progress=progress, phase=phase)
    except CascadeError:
        for config in configs:
            if finished(pipeline.run_directory(config)):
                write_run_reports(pipeline.run_directory(config))
        raise
    for config, outcome in zip(configs, outcomes, strict=True):
        run_dir = pipeline.run_directory(config)
        if isinstance(outcome, RunSummary) or finished(run_dir):
            write_run_reports(run_dir)
    return outcomes


def judge(
    run_dir: Path,
    judge: str,
    *,
    reasoner: Reasoner | None = None,
    samples: int = JUDGE_SAMPLES,
    prompt: str = JUDGE_PROMPT,
    overrides: Sequence[str] = (),
    cache_dir: Path | None = None,
    executor: str | None = None,
) -> JudgeResult:
    """Judge a run directory (`judge_run`), then rewrite the run's report.html, which shows the
    rubric scores beside accuracy."""
    result = judge_run(
        run_dir,
        judge,
        reasoner=reasoner,
        samples=samples,
        prompt=prompt,
        overrides=overrides,
        cache_dir=cache_dir,
        executor=executor,
    )
    if finished(run_dir):
        write_run_report(run_dir)
    return result


def judge_rubrics(
    path: Path,
    judge: str | None = None,
    *,
    settings: rubrics.Settings | None = None,
    overrides: Sequence[str] = (),
    output: Path | None = None,
    cache_dir: Path | None = None,
    executor: str | None = None,
) -> rubrics.RubricsResult:
    """MMAR-Rubrics of a run directory or a predictions file (`rubrics.evaluate`; `judge` None:
    the official judge), then, for a run, its report.md and report.html, which show it."""
    settings = settings or rubrics.Settings()
    rubrics.judge_component(judge, overrides)
    target = rubrics.target(path, judge, output)
    made = rubrics.make_judge(target, judge, settings, overrides, executor)
    run_dir = target.source.run_dir
    if cache_dir is None and run_dir is not None:
        from cascade.run import RunDir

        cache_dir = RunDir(run_dir).config().cache_dir
    try:
        return rubrics.evaluate(target, made, Cache(cache_dir), settings)
    finally:
        if run_dir is not None and finished(run_dir):
            write_run_reports(run_dir)


def judge_rubrics_plan(
    path: Path, judge: str | None = None, *, output: Path | None = None, price: str | None = None
) -> dict[str, Any]:
    """What `judge_rubrics` would do and cost (`rubrics.plan`); nothing is asked."""
    return rubrics.plan(rubrics.target(path, judge, output), price)


def runs(folder: Path, html: Path | None = None) -> list[RunRow]:
    """Every run and sweep under `folder` (`analysis.runs.list_runs`), as rows; with `html`,
    also the page of them (`report.runs_page`)."""
    from cascade.analysis.runs import list_runs
    from cascade.core import write_atomic
    from cascade.report import runs_page

    found = list_runs(folder)
    if html is not None:
        write_atomic(html, runs_page(found, html, folder))
    return found


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
) -> list[CueResult]:
    """Measure the cue coverage of a run (or of every run of a sweep folder) and attribute its
    wrong answers (`measure_run`), then rewrite each run's report.md and report.html."""
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


def finish_sweep(sweep: Sweep, outcomes: list[Outcome]) -> SweepResults:
    """Score a sweep's finished variations and write its tables (`ablate.finish`), then its
    report.html."""
    results = ablate.finish(sweep, outcomes)
    write_sweep_report(sweep, outcomes, results)
    return results
