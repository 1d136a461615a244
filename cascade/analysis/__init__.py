"""Analyses over finished runs: ablation sweeps and their dose-response, the rubric judge,
comparisons of runs and the sweep tables. They write their results; the report layer renders
the pages.
"""

from cascade.analysis import ablate, compare, doses, judge, sweep_table
from cascade.analysis.ablate import DOSE_KEYS, DoseSpec, Outcome, Sweep, SweepResults, SweepSpec
from cascade.analysis.judge import PROMPT as JUDGE_PROMPT
from cascade.analysis.judge import SAMPLES as JUDGE_SAMPLES
from cascade.analysis.judge import JudgeResult, judge_run

__all__ = [
    "DOSE_KEYS",
    "JUDGE_PROMPT",
    "JUDGE_SAMPLES",
    "DoseSpec",
    "JudgeResult",
    "Outcome",
    "Sweep",
    "SweepResults",
    "SweepSpec",
    "ablate",
    "compare",
    "doses",
    "judge",
    "judge_run",
    "sweep_table",
]
