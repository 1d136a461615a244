"""`cascade run`: resolve the config, run (or resume) it, then write its reports."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cascade.commands.display import Display
from cascade.core import Cache, CascadeError, FailureRateExceeded, Interrupted
from cascade.report import finished, write_run_reports
from cascade.run import (
    ComponentPool,
    Phase,
    Progress,
    RunConfig,
    RunDir,
    RunSummary,
    claim_json,
    pipeline,
    preview,
)
from cascade.run import config as run_configs


def resolve(
    config: str,
    *,
    captioners: Sequence[str] = (),
    reasoner: str | None = None,
    benchmark: str | None = None,
    limit: int | None = None,
    overrides: Sequence[str] = (),
    extra: Mapping[str, Any] | None = None,
) -> RunConfig:
    """The run config `config` (a name under configs/ or a YAML path) with the command line's
    shortcuts and `--set` overrides over it, validated (`run.config.resolve`)."""
    return run_configs.resolve(
        config,
        captioners=captioners,
        reasoner=reasoner,
        benchmark=benchmark,
        limit=limit,
        overrides=overrides,
        extra=extra,
    )


def plan(config: RunConfig) -> dict[str, Any]:
    """What `run` would do (`--dry-run`): the resolved plan and its run directory; loads
    nothing."""
    return preview.describe_plan(config, pipeline.run_directory(config))


def run(
    config: RunConfig,
    *,
    display: Display | None = None,
    progress: Progress | None = None,
    cache: Cache | None = None,
    pool: ComponentPool | None = None,
    phase: Phase | None = None,
) -> RunSummary:
    """Run (or resume) the cascade described by `config`, then write report.md and report.html.

    With a `display`, third-party output goes to the run's cascade.log and the run shows one bar
    (`progress` and `phase` come from it); without one, `progress` and `phase` are called.
    A run stopped by the failure-rate limit or an interrupt has written its results so far:
    its reports are written from them before the error goes on.
    """
    if display is not None:
        if progress is not None or phase is not None:
            raise TypeError("run() takes a display or progress and phase callbacks, not both")
        log = RunDir(pipeline.run_directory(config)).log_path
        with display.logged(log, f"cascade run {config.name}"), display.bars() as bars:
            bar = bars.add(config.name)
            return run(
                config,
                progress=bar.progress,
                cache=cache,
                pool=pool,
                phase=lambda doing: bar.label(f"{config.name}: {doing}" if doing else config.name),
            )
    try:
        summary = pipeline.execute(config, progress=progress, cache=cache, pool=pool, phase=phase)
    except (FailureRateExceeded, Interrupted):
        run_dir = pipeline.run_directory(config)
        if finished(run_dir):
            write_run_reports(run_dir)
        raise
    write_run_reports(summary.run_dir)
    return summary


def shown(summary: RunSummary, config: RunConfig) -> dict[str, Any]:
    """A run's summary as the console shows it: summary.json's content and the claim."""
    return summary.to_json() | {"claim": claim_json(config)}


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
