"""`cascade runs`: every run and sweep under a folder, and the page of them."""

from __future__ import annotations

from pathlib import Path

from cascade.analysis.runs import RunRow, list_runs
from cascade.core import write_atomic
from cascade.report import runs_page


def runs(folder: Path, html: Path | None = None) -> list[RunRow]:
    """Every run and sweep under `folder` (`analysis.runs.list_runs`), as rows; with `html`,
    also the page of them (`report.runs_page`)."""
    found = list_runs(folder)
    if html is not None:
        write_atomic(html, runs_page(found, html, folder))
    return found
