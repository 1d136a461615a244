"""`cascade run`: run (or resume) a cascade over a benchmark, then print its scores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cascade.cli.app import reported, terminal
from cascade.cli.options import Captioners, Sets
from cascade.cli.printing import print_json, print_summary


@reported
def run(
    config: Annotated[
        str, typer.Option("--config", help="Run config name or YAML path.")
    ] = "default",
    captioner: Captioners = None,
    reasoner: Annotated[str | None, typer.Option(help="Reasoner preset or backend.")] = None,
    benchmark: Annotated[str | None, typer.Option(help="Benchmark name.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N items.")] = None,
    set_: Sets = None,
    run_dir: Annotated[Path | None, typer.Option(help="Explicit run directory.")] = None,
    skip_missing_audio: Annotated[
        bool, typer.Option(help="Run without items whose audio is missing (listed in the report).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option(help="Print the resolved plan without loading anything.")
    ] = False,
) -> None:
    """Run (or resume) a cascade over a benchmark and score it."""
    from cascade import commands

    extra: dict[str, Any] = {}
    if run_dir is not None:
        extra["run.run_dir"] = str(run_dir)
    if skip_missing_audio:
        extra["benchmark.skip_missing_audio"] = True
    resolved = commands.resolve(
        config,
        captioners=captioner or (),
        reasoner=reasoner,
        benchmark=benchmark,
        limit=limit,
        overrides=set_ or (),
        extra=extra,
    )
    if dry_run:
        print_json(commands.plan(resolved))
        return
    summary = commands.run(resolved, display=terminal())
    print_summary(summary.metrics, commands.shown(summary, resolved))
    commands.check_answered(summary)  # exit code 3, after every output is written and shown
