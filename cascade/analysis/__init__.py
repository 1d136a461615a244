"""Analyses over finished runs: ablation sweeps, the rubric judge, cue coverage and error
attribution, comparisons of runs and the sweep tables. They write their results; the report
layer renders the pages.
"""

from cascade.analysis import ablate, attribution, caption_quality, compare, cues, judge, sweep_table
from cascade.analysis.ablate import Outcome, Sweep, SweepResults, SweepSpec
from cascade.analysis.caption_quality import CueResult, measure_run
from cascade.analysis.judge import PROMPT as JUDGE_PROMPT
from cascade.analysis.judge import SAMPLES as JUDGE_SAMPLES
from cascade.analysis.judge import JudgeResult, judge_run

__all__ = [
    "JUDGE_PROMPT",
    "JUDGE_SAMPLES",
    "CueResult",
    "JudgeResult",
    "Outcome",
    "Sweep",
    "SweepResults",
    "SweepSpec",
    "ablate",
    "attribution",
    "caption_quality",
    "compare",
    "cues",
    "judge",
    "judge_run",
    "measure_run",
    "sweep_table",
]
