"""Analyses over finished runs: ablation sweeps, the rubric judge, comparisons of runs and the
sweep tables. They write their results; the report layer renders the pages.
"""

from cascade.analysis import ablate, compare, judge, sweep_table
from cascade.analysis.ablate import Outcome, Sweep, SweepResults, SweepSpec
from cascade.analysis.judge import PROMPT as JUDGE_PROMPT
from cascade.analysis.judge import SAMPLES as JUDGE_SAMPLES
from cascade.analysis.judge import JudgeResult, judge_run

__all__ = [
    "JUDGE_PROMPT",
    "JUDGE_SAMPLES",
    "JudgeResult",
    "Outcome",
    "Sweep",
    "SweepResults",
    "SweepSpec",
    "ablate",
    "compare",
    "judge",
    "judge_run",
    "sweep_table",
]
