"""`cascade runs`: every run and sweep under a folder, side by side (and as one page)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cascade.cli.app import reported
from cascade.cli.options import AsJson
from cascade.cli.printing import console, print_json, print_lines, print_written


@reported
def runs(
    folder: Annotated[
        Path, typer.Argument(help="The folder of runs and sweeps (default: runs/).")
    ] = Path("runs"),
    html: Annotated[
        Path | None, typer.Option(help="Also write one self-contained page of them here.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Every run and sweep under a folder, side by side: accuracy, claim, tokens, cost, date."""
    from cascade import commands

    rows = commands.runs(folder, html)
    if as_json:
        print_json([row.to_json() for row in rows])
    else:
        print_lines(commands.views.runs_lines(rows, console.width))
    if html is not None:
        print_written(html)
