"""The tables and sentences the CLI prints, made by the layers that own them: re-exported here so
that the CLI imports nothing below `commands` (the import contract in pyproject.toml)."""

from __future__ import annotations

from cascade.analysis.compare import accuracy_table, paired_table, rubric_table, shared_note
from cascade.analysis.judge import LABEL as UNGATED_LABEL
from cascade.analysis.sweep_table import compact_table, work_table
from cascade.core import pct
from cascade.report import group_table, headline_table, samples_table, skipped_notice
from cascade.report.cues import attribution_frame, coverage_frame, level_frame
from cascade.run import stored_sentence
from cascade.run.agent import agent_sentence

__all__ = [
    "UNGATED_LABEL",
    "accuracy_table",
    "agent_sentence",
    "attribution_frame",
    "compact_table",
    "coverage_frame",
    "group_table",
    "headline_table",
    "level_frame",
    "paired_table",
    "pct",
    "rubric_table",
    "samples_table",
    "shared_note",
    "skipped_notice",
    "stored_sentence",
    "work_table",
]
