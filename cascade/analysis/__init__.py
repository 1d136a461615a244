"""Analyses over finished runs: ablation sweeps and their dose-response, the rubric judge, cue
coverage and error attribution, comparisons of runs and the sweep tables. They write their
results; the report layer renders the pages.
"""

from cascade.analysis import (
    ablate,
    attribution,
    caption_quality,
    compare,
    cues,
    doses,
    judge,
    rubrics,
    runs,
    sweep_table,
)
from cascade.analysis.ablate import DOSE_KEYS, DoseSpec, Outcome, Sweep, SweepResults, SweepSpec
from cascade.analysis.caption_quality import CueResult, measure_run
from cascade.analysis.judge import PROMPT as JUDGE_PROMPT
from cascade.analysis.judge import SAMPLES as JUDGE_SAMPLES
from cascade.analysis.judge import JudgeResult, judge_run

__all__ = [
    "DOSE_KEYS",
    "JUDGE_PROMPT",
    "JUDGE_SAMPLES",
    "CueResult",
    "DoseSpec",
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
    "doses",
    "judge",
    "judge_run",
    "measure_run",
    "rubrics",
    "runs",
    "sweep_table",
]
