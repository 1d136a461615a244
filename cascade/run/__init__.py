"""Running: the run config and its plan, the front-end and answering stages, the lifecycle of a
run (`pipeline`) and the executors that compute its missing work (`Executor`, registered by
name), and the run directory it writes. Renders no report.
"""

from cascade.run import config, pipeline, plan, preview, rescore
from cascade.run.answering import (
    Answerer,
    AnswerRecord,
    answer,
    answered,
    format_choices,
    letters_phrase,
    render_request,
)
from cascade.run.claims import claim_json, stored_sentence
from cascade.run.config import AudioSpec, ComponentSpec, DescriptionSpec, RunConfig, RunSpec
from cascade.run.description import KIND_LABELS, NO_DESCRIPTION, QUOTE_TAGS, compose
from cascade.run.executor import Executor, executor_by_name
from cascade.run.frontend import Clipped, Stage, run_stages
from cascade.run.isolation import Counts, run_isolated
from cascade.run.job import FrontendBatch, Job, Pending, Phase, Progress, Runner, answered_result
from cascade.run.pipeline import run_directory
from cascade.run.pool import ComponentPool
from cascade.run.rescore import Scorable
from cascade.run.rundir import (
    CONFIG,
    CUES_PREFIX,
    METRICS,
    PREDICTIONS,
    REPORT_HTML,
    REPORT_MD,
    RESULTS,
    SUMMARY,
    RunDir,
    cue_files,
    cues_name,
    read_results,
)
from cascade.run.summary import RunSummary, check_answered
from cascade.run.sweepdir import SweepDir
from cascade.run.variations import Perturbation, derangement, needs_audio

__all__ = [
    "CONFIG",
    "CUES_PREFIX",
    "KIND_LABELS",
    "METRICS",
    "NO_DESCRIPTION",
    "PREDICTIONS",
    "QUOTE_TAGS",
    "REPORT_HTML",
    "REPORT_MD",
    "RESULTS",
    "SUMMARY",
    "AnswerRecord",
    "Answerer",
    "AudioSpec",
    "Clipped",
    "ComponentPool",
    "ComponentSpec",
    "Counts",
    "DescriptionSpec",
    "Executor",
    "FrontendBatch",
    "Job",
    "Pending",
    "Perturbation",
    "Phase",
    "Progress",
    "RunConfig",
    "RunDir",
    "RunSpec",
    "RunSummary",
    "Runner",
    "Scorable",
    "Stage",
    "SweepDir",
    "answer",
    "answered",
    "answered_result",
    "check_answered",
    "claim_json",
    "compose",
    "config",
    "cue_files",
    "cues_name",
    "derangement",
    "executor_by_name",
    "format_choices",
    "letters_phrase",
    "needs_audio",
    "pipeline",
    "plan",
    "preview",
    "read_results",
    "render_request",
    "rescore",
    "run_directory",
    "run_isolated",
    "run_stages",
    "stored_sentence",
]
