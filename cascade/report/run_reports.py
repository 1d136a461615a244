"""The reports of a run directory, rendered after the run from the files it wrote."""

from __future__ import annotations

from pathlib import Path

from cascade.report.cues import cues_section
from cascade.report.html.run_page import write_run_report
from cascade.report.rubrics import rubrics_section
from cascade.report.tables import render_markdown
from cascade.run import RunDir


def finished(run_dir: Path) -> bool:
    """Whether the run directory holds what its reports are rendered from."""
    return RunDir(run_dir).finished()


def write_run_reports(run_dir: Path) -> list[Path]:
    """Write report.md and report.html from the run's metrics.json and summary.json (and its
    cue coverage files and MMAR-Rubrics totals, when `cascade cues` / `cascade judge` wrote
    any)."""
    run = RunDir(run_dir)
    text = render_markdown(run.metrics(), run.summary())
    sections = [cues_section(run, path) for path in run.cue_files()]
    if rubric_text := rubrics_section(run):
        sections.append(rubric_text)
    markdown = run.write_report_md("\n".join([text, *sections]))
    return [markdown, write_run_report(run_dir)]
