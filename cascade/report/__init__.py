"""Reports, rendered after the work from the files it wrote: report.md and the self-contained
HTML pages of a run, a comparison and a sweep (in `html/`).
"""

from cascade.report.html.compare import (
    ComparePage,
    compare_page,
    sweep_page,
    write_sweep_report,
)
from cascade.report.html.run_page import Embedder, write_run_report
from cascade.report.plan import plan_lines
from cascade.report.run_reports import finished, write_run_reports
from cascade.report.runs import narrow_lines, runs_page
from cascade.report.tables import (
    cost_sentence,
    group_table,
    headline_table,
    notices,
    render_markdown,
    samples_table,
    skipped_notice,
)

__all__ = [
    "ComparePage",
    "Embedder",
    "compare_page",
    "cost_sentence",
    "finished",
    "group_table",
    "headline_table",
    "narrow_lines",
    "notices",
    "plan_lines",
    "render_markdown",
    "runs_page",
    "samples_table",
    "skipped_notice",
    "sweep_page",
    "write_run_report",
    "write_run_reports",
    "write_sweep_report",
]
