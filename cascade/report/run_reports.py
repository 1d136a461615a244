"""The reports of a run directory, rendered after the run from the files it wrote."""

from __future__ import annotations

from pathlib import Path

from cascade.report.html.run_page import write_run_report
from cascade.report.tables import render_markdown
from cascade.run import RunDir


def finished(run_dir: Path) -> bool:
    """Whether the run directory holds what its reports are rendered from."""
    return RunDir(run_dir).finished()


def write_run_reports(run_dir: Path) -> list[Path]:
    """Write report.md and report.html from the run's metrics.json and summary.json."""
    run = RunDir(run_dir)
    markdown = run.write_report_md(render_markdown(run.metrics(), run.summary()))
    return [markdown, write_run_report(run_dir)]
