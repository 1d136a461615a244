"""`cascade score`: re-score a run or a predictions file and print its tables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cascade.cli.app import reported, terminal
from cascade.cli.options import AsJson
from cascade.cli.printing import print_frame, print_json, print_line, print_written

Alpha = Annotated[
    float | None,
    typer.Option(
        help="Level of the test against random guessing (default: the run's scoring.alpha; "
        "0.001 for a predictions file)."
    ),
]
Family = Annotated[
    int | None,
    typer.Option(
        help="Bonferroni family size (default: the run's scoring.family_size; 1 for a "
        "predictions file)."
    ),
]


@reported
def score(
    path: Annotated[
        Path, typer.Argument(help="A run directory or an official-format predictions file.")
    ],
    alpha: Alpha = None,
    family_size: Family = None,
    as_json: AsJson = False,
    output: Annotated[
        Path | None, typer.Option(help="Also write metrics.json and report.md here.")
    ] = None,
    html: Annotated[
        bool, typer.Option(help="Rewrite the run directory's report.html (run directories only).")
    ] = False,
) -> None:
    """Re-score with every scorer and all statistics; needs no model."""
    from cascade import commands
    from cascade.commands import views

    scored = commands.score(
        path, alpha=alpha, family_size=family_size, output=output, html=html, display=terminal()
    )
    if scored.page is not None:
        print_written(scored.page)
    metrics, scorable = scored.metrics, scored.scorable
    if as_json:
        print_json(metrics)
        commands.check_scored(scored)
        return
    print_frame(views.headline_table(metrics), f"{scorable.name} on {scorable.benchmark}")
    for key in ("modality", "category"):
        print_frame(views.group_table(metrics, key), f"by {key}")
    print_line(
        f"items {metrics['n_items']}; invalid (strict) {metrics['invalid']['strict']}; "
        f"truncated {metrics['truncated']}; errors {metrics['errors']}; "
        f"without a prediction (skipped, as the official scorer does): "
        f"{len(scorable.missing_prediction)}"
    )
    commands.check_scored(scored)
