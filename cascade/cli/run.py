"""`cascade run`: run (or resume) a cascade over a benchmark, then print its scores."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from cascade.cli.app import reported, terminal
from cascade.cli.options import AsJson, Captioners, Sets
from cascade.cli.printing import print_json, print_lines, print_summary


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
        bool,
        typer.Option(help="Print the plan (work, tokens, cost, claim) without loading anything."),
    ] = False,
    max_cost: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="Dollars: refuse a run whose worst case costs more; stop one that reaches it.",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Run (or resume) a cascade over a benchmark and score it."""
    from cascade import commands

    extra: dict[str, Any] = {}
    if run_dir is not None:
        extra["run.run_dir"] = str(run_dir)
    if skip_missing_audio:
        extra["benchmark.skip_missing_audio"] = True
    if max_cost is not None:
        extra["run.max_cost"] = max_cost
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
        described = commands.plan(resolved)
        if as_json:
            print_json(described)
        else:
            print_lines(commands.views.plan_lines(described))
        return
    summary = commands.run(resolved, display=terminal())
    print_summary(summary.metrics, commands.shown(summary, resolved))
    commands.check_answered(summary)  # exit code 3, after every output is written and shown
