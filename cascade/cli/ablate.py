"""`cascade ablate`: run an ablation sweep and print its table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cascade.cli.app import reported, terminal
from cascade.cli.options import Sets
from cascade.cli.printing import print_frame, print_line, print_notices, print_problem


@reported
def ablate(
    sweep: Annotated[str, typer.Argument(help="Sweep file, or a name under configs/ablations/.")],
    set_: Sets = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N items.")] = None,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only these variations (and the base); repeat.")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Sweep folder (tables, runs).")] = None,
    by: Annotated[
        list[str] | None,
        typer.Option(help="Break the table down by modality, category, sub-category or language."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="List the variations and their run directories; run nothing.")
    ] = False,
) -> None:
    """Run an ablation sweep: the base and every variation as ordinary runs, then one table."""
    from cascade import commands
    from cascade.commands import views

    overrides = tuple(set_ or ()) + ((f"benchmark.limit={limit}",) if limit else ())
    expanded = commands.load_sweep(
        sweep, overrides=overrides, output=output, by=by, only=only or ()
    )
    if dry_run:
        for name, run_dir in commands.sweep_plan(expanded).items():
            print_line(f"{name}: {run_dir}")
        return
    ran = commands.ablate(expanded, display=terminal())
    scorer = expanded.spec.scorer
    print_frame(
        views.compact_table(ran.results.table, scorer),
        f"sweep {expanded.name} (paired figures: {scorer} scorer)",
    )
    print_frame(views.work_table(ran.results.summaries), "work done by this invocation")
    print_line(f"sweep folder: {expanded.folder} (table.md, table.csv, flips.json, report.html)")
    print_notices(ran.notices)
    for problem in ran.problems:
        print_problem(problem)
    raise typer.Exit(ran.exit_code)
