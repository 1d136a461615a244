"""Each command's work from start to written reports, for the CLI and for library users.

The run layer runs and the analysis layer analyses; the reports are rendered after them, from
the files they wrote. One module per command (or small family); the CLI (`cascade.cli`) parses
arguments, calls one of these functions for the work and prints what it returns (with `views`,
the tables it prints), and imports nothing below this package. What a command shows while it
works goes through a `Display`. What else the CLI needs of the layers below (the errors it
reports with their exit codes, the judges' records and settings) is re-exported here.
"""

from cascade.analysis import JudgeResult
from cascade.analysis.rubrics import RubricsResult
from cascade.analysis.rubrics import Settings as RubricsSettings
from cascade.commands import views
from cascade.commands.comparing import Comparison, compare, paired_level
from cascade.commands.cue_coverage import check_cues, cues
from cascade.commands.describing import Described, check_described, describe
from cascade.commands.display import Bar, Bars, Display, Quiet, capture
from cascade.commands.inventory import CacheUsage, Inventory, cache_usage, executors, inventory
from cascade.commands.judging import (
    check_judged,
    check_rubrics,
    judge,
    judge_rubrics,
    judge_rubrics_plan,
    judged_statuses,
)
from cascade.commands.listing_runs import runs
from cascade.commands.rescoring import Scored, check_scored, score, scoring_spec
from cascade.commands.running import plan, resolve, run, run_together, shown
from cascade.commands.sweeping import SweepRun, ablate, finish_sweep, sweep_plan
from cascade.commands.sweeping import load as load_sweep
from cascade.core import CascadeError, ExitCode, ItemsFailed
from cascade.run import check_answered

__all__ = [
    "Bar",
    "Bars",
    "CacheUsage",
    "CascadeError",
    "Comparison",
    "Described",
    "Display",
    "ExitCode",
    "Inventory",
    "ItemsFailed",
    "JudgeResult",
    "Quiet",
    "RubricsResult",
    "RubricsSettings",
    "Scored",
    "SweepRun",
    "ablate",
    "cache_usage",
    "capture",
    "check_answered",
    "check_cues",
    "check_described",
    "check_judged",
    "check_rubrics",
    "check_scored",
    "compare",
    "cues",
    "describe",
    "executors",
    "finish_sweep",
    "inventory",
    "judge",
    "judge_rubrics",
    "judge_rubrics_plan",
    "judged_statuses",
    "load_sweep",
    "paired_level",
    "plan",
    "resolve",
    "run",
    "run_together",
    "runs",
    "score",
    "scoring_spec",
    "shown",
    "sweep_plan",
    "views",
]
