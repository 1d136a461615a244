"""`cascade judge`: MMAR-Rubrics of a run or a predictions file (the official protocol, with the
official judge or another), or cascade's ungated reasoning diagnostic of a run."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cascade.analysis import JUDGE_PROMPT, JUDGE_SAMPLES, JudgeResult, judge_run, rubrics
from cascade.analysis import judge as ungated
from cascade.commands.display import Display
from cascade.core import Cache, ItemsFailed, Reasoner
from cascade.report import finished, write_run_report, write_run_reports
from cascade.run import RunDir


def judge(
    run_dir: Path,
    judge: str,
    *,
    reasoner: Reasoner | None = None,
    samples: int = JUDGE_SAMPLES,
    prompt: str = JUDGE_PROMPT,
    overrides: Sequence[str] = (),
    cache_dir: Path | None = None,
    executor: str | None = None,
    display: Display | None = None,
) -> JudgeResult:
    """Judge a run directory by the ungated diagnostic (`judge_run`), then rewrite the run's
    report.html, which shows the rubric scores beside accuracy. With a `display`, third-party
    output goes to the run's cascade.log."""
    with (
        display.logged(RunDir(run_dir).log_path, f"cascade judge {run_dir.name} --judge {judge}")
        if display is not None and run_dir.is_dir()  # else judge_run says what is wrong
        else contextlib.nullcontext()
    ):
        result = judge_run(
            run_dir,
            judge,
            reasoner=reasoner,
            samples=samples,
            prompt=prompt,
            overrides=overrides,
            cache_dir=cache_dir,
            executor=executor,
        )
    if finished(run_dir):
        write_run_report(run_dir)
    return result


def check_judged(result: JudgeResult) -> None:
    """Exit code 3 when items of the ungated diagnostic have no rubric score: the same command
    again retries their failed calls."""
    unjudged = [j.id for j in result.judged if j.status in ungated.UNJUDGED]
    if unjudged:
        statuses = judged_statuses(result)
        why = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()) if k in ungated.UNJUDGED)
        raise ItemsFailed(
            f"{len(unjudged)} of {len(result.judged)} items have no rubric score ({why}"
            f"; e.g. {', '.join(unjudged[:3])}): see the failed calls and unread replies in "
            f"{result.files['json']}. Failed judge calls are retried by running the same command "
            "again (replies that were read are cached).",
            len(unjudged),
        )


def judged_statuses(result: JudgeResult) -> dict[str, int]:
    """How many items ended in each status (scored, no-rubric, judge-error, ...)."""
    statuses: dict[str, int] = {}
    for item in result.judged:
        statuses[item.status] = statuses.get(item.status, 0) + 1
    return statuses


def judge_rubrics(
    path: Path,
    judge: str | None = None,
    *,
    settings: rubrics.Settings | None = None,
    overrides: Sequence[str] = (),
    output: Path | None = None,
    cache_dir: Path | None = None,
    executor: str | None = None,
) -> rubrics.RubricsResult:
    """MMAR-Rubrics of a run directory or a predictions file (`rubrics.evaluate`; `judge` None:
    the official judge), then, for a run, its report.md and report.html, which show it."""
    settings = settings or rubrics.Settings()
    rubrics.judge_component(judge, overrides)
    target = rubrics.target(path, judge, output)
    made = rubrics.make_judge(target, judge, settings, overrides, executor)
    run_dir = target.source.run_dir
    if cache_dir is None and run_dir is not None:
        cache_dir = RunDir(run_dir).config().cache_dir
    try:
        return rubrics.evaluate(target, made, Cache(cache_dir), settings)
    finally:
        if run_dir is not None and finished(run_dir):
            write_run_reports(run_dir)


def judge_rubrics_plan(
    path: Path, judge: str | None = None, *, output: Path | None = None, price: str | None = None
) -> dict[str, Any]:
    """What `judge_rubrics` would do and cost (`rubrics.plan`); nothing is asked."""
    return rubrics.plan(rubrics.target(path, judge, output), price)


def check_rubrics(result: rubrics.RubricsResult) -> None:
    """Exit code 3 when items were not evaluated or had no prediction: the same command again
    judges only those."""
    failed = result.not_evaluated
    missing = result.target.source.without_prediction
    if failed or missing:
        reasons = "; ".join(f"{i}: {r}" for i, r in list(failed.items())[:3])
        raise ItemsFailed(
            f"{len(failed)} items not evaluated ({reasons or '-'}) and {len(missing)} without a "
            f"prediction (e.g. {', '.join(list(missing)[:3]) or '-'}): they are left out of the "
            f"totals above, as the official script leaves them out. Run the same command again "
            f"to judge the items not evaluated (judged items in {result.target.output} are "
            "kept); give the missing predictions in the file.",
            len(failed) + len(missing),
        )
