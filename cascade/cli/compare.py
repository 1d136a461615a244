"""`cascade compare`: runs side by side with exact paired tests against the first."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cascade.cli.app import reported, terminal
from cascade.cli.options import AsJson
from cascade.cli.printing import console, print_frame, print_json, print_line, print_written


@reported
def compare(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Run directories or predictions files; the first is the base."),
    ],
    alpha: Annotated[
        float | None,
        typer.Option(
            help="Level of the paired tests, Bonferroni-corrected for the runs compared with "
            "the first (default 0.05, as in ablation sweeps)."
        ),
    ] = None,
    as_json: AsJson = False,
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report here.")
    ] = None,
) -> None:
    """Side-by-side accuracy with exact paired tests (McNemar) against the first run.

    Runs are labelled by their directory or file. Only the items every run scored are compared;
    each run's accuracy is scored with its own stored scoring settings.
    """
    from cascade import commands
    from cascade.commands import views

    compared = commands.compare(paths, alpha=alpha, html=html, display=terminal())
    record = compared.record
    if compared.page is not None:
        print_written(compared.page)
    if as_json:
        print_json(record)
        return
    if (note := views.shared_note(record)) is not None:
        console.print(f"[bold]note:[/] {note}", highlight=False)
    print_frame(views.accuracy_table(record), "accuracy")
    print_frame(views.paired_table(record), "paired against the first run")
    if record["rubrics"]:
        print_frame(
            views.rubric_table(record["rubrics"]),
            "MMAR-Rubrics scores paired against the first run (same protocol and judge)",
        )
    for pair in record["paired"]:
        if pair["scorer"] == "strict" and (pair["to_correct"] or pair["to_wrong"]):
            print_line(
                f"{pair['run']} vs {pair['base']} (strict): wrong->right "
                f"{', '.join(pair['to_correct']) or '-'}; right->wrong "
                f"{', '.join(pair['to_wrong']) or '-'}"
            )
