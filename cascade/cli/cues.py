"""`cascade cues`: cue coverage of a run's descriptions and why its wrong answers were wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cascade.cli.app import reported, terminal
from cascade.cli.options import JudgeExecutor
from cascade.cli.printing import print_frame, print_written


@reported
def cues(
    path: Annotated[
        Path, typer.Argument(help="A finished run directory, or a sweep folder (every run).")
    ],
    judge_: Annotated[
        str | None,
        typer.Option(
            "--judge",
            help="Reasoner preset or backend that judges each cue; default: the lexical measure.",
        ),
    ] = None,
    oracle: Annotated[
        Path | None,
        typer.Option(help="An oracle run (description.source=oracle) on the same items."),
    ] = None,
    scorer: Annotated[
        str,
        typer.Option(
            help="Scorer that decides which answers are wrong: strict, official, lenient."
        ),
    ] = "strict",
    json_: Annotated[
        bool, typer.Option("--json", help="Print every item's record (with its id) as JSON.")
    ] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", "-s", help="Override a judge setting: config.temperature=0.7."),
    ] = None,
    executor: JudgeExecutor = None,
) -> None:
    """Cue coverage of a run's descriptions (MMAR `cue`) and why its wrong answers were wrong."""
    from cascade import commands
    from cascade.commands import views

    results = commands.cues(
        path,
        judge_,
        oracle=oracle,
        scorer=scorer,
        overrides=tuple(set_ or ()),
        executor=executor,
        display=terminal(),
    )
    if json_:
        records = [
            {"run": r.record["run"], "measure": r.measure, **item}
            for r in results
            for item in r.record["items"]
        ]
        print(json.dumps(records, ensure_ascii=False, indent=1))
    else:
        for result in results:
            name = f"{result.run_dir.name} ({result.measure})"
            print_frame(views.coverage_frame(result.record), f"cue coverage (%) of {name}")
            print_frame(views.attribution_frame(result.record), f"why answers were wrong: {name}")
            if result.record["by_level"]["rows"]:
                print_frame(views.level_frame(result.record), f"accuracy by cue coverage: {name}")
            print_written(result.file)
    commands.check_cues(results)
