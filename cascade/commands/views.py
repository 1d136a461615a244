"""The tables and sentences the CLI prints, made by the layers that own them: re-exported here so
that the CLI imports nothing below `commands` (the import contract in pyproject.toml)."""

from __future__ import annotations

from cascade.analysis.compare import accuracy_table, paired_table, rubric_table, shared_note
from cascade.analysis.judge import LABEL as UNGATED_LABEL
from cascade.analysis.sweep_table import compact_table, work_table
from cascade.core import pct
from cascade.report import (
    cost_sentence,
    group_table,
    headline_table,
    plan_lines,
    samples_table,
    skipped_notice,
)
from cascade.report.cues import attribution_frame, coverage_frame, level_frame
from cascade.report.rubrics import totals_table as rubrics_totals_table
from cascade.report.runs import text_lines as runs_lines
from cascade.report.tables import fits, vertical_lines
from cascade.run import stored_sentence
from cascade.run.agent import agent_sentence
from cascade.scoring import PRIMARY, scorer_named

__all__ = [
    "PRIMARY",
    "UNGATED_LABEL",
    "accuracy_table",
    "agent_sentence",
    "attribution_frame",
    "compact_table",
    "cost_sentence",
    "coverage_frame",
    "fits",
    "group_table",
    "headline_table",
    "level_frame",
    "paired_table",
    "pct",
    "plan_lines",
    "primary_reading",
    "rubric_table",
    "rubrics_totals_table",
    "runs_lines",
    "samples_table",
    "shared_note",
    "skipped_notice",
    "stored_sentence",
    "vertical_lines",
    "work_table",
]


def primary_reading() -> str:
    """The reading whose INVALID answers the primary scorer counts (strict's own)."""
    return scorer_named(PRIMARY).invalid_when
