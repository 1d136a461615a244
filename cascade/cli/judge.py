"""`cascade judge`: MMAR-Rubrics of a run or a predictions file, or the ungated diagnostic."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from cascade.cli.app import reported, terminal
from cascade.cli.options import AsJson, JudgeExecutor
from cascade.cli.printing import print_frame, print_json, print_line, print_written

if TYPE_CHECKING:
    from cascade.commands import JudgeResult, RubricsResult


@reported
def judge(
    path: Annotated[
        Path,
        typer.Argument(
            help="A run directory, or a predictions file in MMAR's format (JSON or JSONL with "
            "`id`, `answer_prediction`, `thinking_prediction`)."
        ),
    ],
    judge_: Annotated[
        str | None,
        typer.Option(
            "--judge",
            help="A reasoner preset or backend as the judge; default: the official judge, "
            "OpenAI gpt-4o-2024-11-20 (OPENAI_API_KEY).",
        ),
    ] = None,
    protocol: Annotated[
        Literal["mmar-rubrics", "ungated"],
        typer.Option(
            help="mmar-rubrics: MMAR's official protocol. ungated: cascade's diagnostic (every "
            "item's reasoning judged, right or wrong; needs --judge); never MMAR-Rubrics."
        ),
    ] = "mmar-rubrics",
    dry_run: Annotated[
        bool, typer.Option(help="Print the calls, tokens and cost it would take; ask nothing.")
    ] = False,
    max_calls: Annotated[
        int | None, typer.Option(min=0, help="Stop before making more judge calls than this.")
    ] = None,
    price: Annotated[
        str | None,
        typer.Option(help="The judge's price, dollars per million input,output tokens: 2.5,10."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(help="Output JSONL (default: in the run, or <file>.evaluated.jsonl)."),
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.001, help="Per-request timeout (s).")] = 120.0,
    qps: Annotated[float, typer.Option(min=0.001, help="Judge requests per second.")] = 8.0,
    max_workers: Annotated[int, typer.Option(min=1, help="Items judged at once.")] = 80,
    retries: Annotated[int, typer.Option(min=1, help="Attempts per rater.")] = 20,
    retry_interval: Annotated[
        float, typer.Option(min=0, help="Pause after an invalid reply (s).")
    ] = 1.0,
    samples: Annotated[
        int | None, typer.Option(min=3, help="ungated: judge samples per item (default 5).")
    ] = None,
    prompt: Annotated[
        str | None, typer.Option(help="ungated: judge prompt template (default judge_rubric).")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override a preset judge's setting: config.seed=42."),
    ] = None,
    executor: JudgeExecutor = None,
    as_json: AsJson = False,
) -> None:
    """Score reasoning by MMAR-Rubrics (MMAR's official protocol and judge) or, with --judge, by
    the same protocol with another judge; --protocol ungated is cascade's own diagnostic."""
    from cascade import commands

    if protocol == "ungated":
        if judge_ is None:
            raise commands.CascadeError("--protocol ungated needs a judge: --judge PRESET")
        _judge_ungated(
            path, judge_, samples or 5, prompt or "judge_rubric", tuple(set_ or ()), executor
        )
        return
    given = [name for name, value in (("--samples", samples), ("--prompt", prompt)) if value]
    if given:
        # MMAR-Rubrics fixes its prompt and its five raters: an option that would change them is
        # refused rather than ignored.
        raise typer.BadParameter(
            f"{' and '.join(given)} belong to --protocol ungated; MMAR-Rubrics uses the "
            "benchmark's own prompt and five raters"
        )
    if dry_run:
        print_json(commands.judge_rubrics_plan(path, judge_, output=output, price=price))
        return
    settings = commands.RubricsSettings(
        retries=retries,
        retry_interval_s=retry_interval,
        max_workers=max_workers,
        qps=qps,
        timeout_s=timeout,
        max_calls=max_calls,
    )
    result = commands.judge_rubrics(
        path,
        judge_,
        settings=settings,
        overrides=tuple(set_ or ()),
        output=output,
        executor=executor,
    )
    if as_json:
        print_json(result.summary)
    else:
        _print_rubrics(result)
    commands.check_rubrics(result)


def _print_rubrics(result: RubricsResult) -> None:
    """The totals as the official script prints them (score and accuracy x100 over the
    evaluated items), with 95% intervals, then what was left out."""
    from cascade.commands import views

    summary = result.summary
    print_frame(
        views.rubrics_totals_table(summary, groups=None), f"{result.label} of {summary['name']}"
    )
    calls = summary["calls"] or {}
    print_line(
        f"evaluated {summary['overall']['n']}; not evaluated {len(summary['not_evaluated'])}; "
        f"without a prediction {len(summary['without_prediction'])} (the official script's "
        f'"No prediction count": {summary["no_prediction_count"]}); judge calls made '
        f"{calls.get('made', 0)}, re-used {calls.get('reused', 0)}, invalid replies "
        f"{calls.get('invalid', 0)}, rate-limited {calls.get('rate_limited', 0)}"
    )
    for note in summary["notes"]:
        print_line(f"note: {note}")
    print_written(result.target.output)


def _judge_ungated(
    run_dir: Path,
    judge_: str,
    samples: int,
    prompt: str,
    overrides: tuple[str, ...],
    executor: str | None,
) -> None:
    """cascade's ungated reasoning-quality diagnostic (`cascade.analysis.judge`)."""
    from cascade import commands
    from cascade.commands import views

    result: JudgeResult = commands.judge(
        run_dir,
        judge_,
        samples=samples,
        prompt=prompt,
        overrides=overrides,
        executor=executor,
        display=terminal(),
    )
    table = result.table.copy()
    for column in ("rubric", "rubric_ci_low", "rubric_ci_high", "accuracy"):
        if column in table:
            table[column] = [views.pct(v) for v in table[column]]
    print_frame(table, f"{views.UNGATED_LABEL} (%) of {run_dir.name} by {judge_}")
    statuses = commands.judged_statuses(result)
    counts = result.counts
    print_line(
        "items: "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        + f"; judge calls computed {counts.computed}, re-used {counts.reused}, "
        f"failed {counts.failed}"
    )
    print_written(*result.files.values())
    commands.check_judged(result)
