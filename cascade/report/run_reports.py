"""The reports of a run directory, rendered after the run from the files it wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cascade.core import write_atomic
from cascade.report.cues import cues_section
from cascade.report.html.run_page import write_run_report
from cascade.report.tables import render_markdown
from cascade.run import METRICS, REPORT_MD, SUMMARY, cue_files


def _read(path: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return value


def finished(run_dir: Path) -> bool:
    """Whether the run directory holds what its reports are rendered from."""
    return (run_dir / METRICS).is_file() and (run_dir / SUMMARY).is_file()


def write_run_reports(run_dir: Path) -> list[Path]:
    """Write report.md and report.html from the run's metrics.json and summary.json (and its
    cue coverage files, when `cascade cues` has written any)."""
    markdown = run_dir / REPORT_MD
    text = render_markdown(_read(run_dir / METRICS), _read(run_dir / SUMMARY))
    sections = [cues_section(path) for path in cue_files(run_dir)]
    write_atomic(markdown, "\n".join([text, *sections]))
    return [markdown, write_run_report(run_dir)]
