"""The `cascade` command: run, score, compare, ablate, judge, cues, describe, list, cache."""

from __future__ import annotations

import contextlib
import errno
import functools
import importlib.util
import json
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from cascade.core import CascadeError, ExitCode, ItemsFailed, RegistryError, registry
from cascade.run import config as configs

app = typer.Typer(
    help="Evaluate audio reasoning benchmarks by a cascade: audio front-end -> text -> reasoner.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
cache_app = typer.Typer(help="Inspect the content-addressed cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
console = Console()
errors = Console(stderr=True)
STATE = {"debug": False, "verbose": False}

P = ParamSpec("P")
R = TypeVar("R")


def reported(command: Callable[P, R]) -> Callable[P, R]:
    """Turn a CascadeError into one clear paragraph and its exit code; an interrupt is a stop
    (exit code 4). The codes are `cascade.core.errors.ExitCode`; --debug adds the traceback
    before the paragraph and keeps the code."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except CascadeError as error:
            label = "failed items" if isinstance(error, ItemsFailed) else "error"
            _stop(f"[bold red]{label}:[/] {error}", error.exit_code)
        except OSError as error:
            paragraph = storage_error(error)
            if paragraph is None:
                raise  # a bug: its traceback, whatever the flags
            _stop(f"[bold red]error:[/] {paragraph}", ExitCode.ERROR)
        except KeyboardInterrupt:
            _stop(
                "[bold red]interrupted[/]: what was computed is on disk or in the cache",
                ExitCode.STOPPED,
            )

    return wrapper


def _stop(paragraph: str, code: int) -> NoReturn:
    """End the command with `paragraph` on stderr and exit `code`; with --debug the traceback of
    the exception being handled comes first (the code stays the documented one)."""
    if STATE["debug"]:
        traceback.print_exc(file=sys.stderr)
    errors.print(paragraph, highlight=False, soft_wrap=True)
    raise typer.Exit(code) from None


_STORAGE_FIXES = {
    errno.ENOSPC: "free some space, or put the run (--run-dir) or the cache ($CASCADE_CACHE) on "
    "another disk",
    errno.EDQUOT: "free some of your quota, or put the run (--run-dir) or the cache "
    "($CASCADE_CACHE) elsewhere",
    errno.EROFS: "put the run (--run-dir) or the cache ($CASCADE_CACHE) on a writable disk",
    errno.EACCES: "give yourself write access, or put the run (--run-dir) or the cache "
    "($CASCADE_CACHE) elsewhere",
    errno.ENOTDIR: "a file stands where a folder of that path should be: move it, or put the run "
    "(--run-dir) or the cache ($CASCADE_CACHE) elsewhere",
    errno.EEXIST: "a file stands where a folder of that path should be: move it, or put the run "
    "(--run-dir) or the cache ($CASCADE_CACHE) elsewhere",
}


def storage_error(error: OSError) -> str | None:
    """The paragraph for a write that the disk refused (full, quota, read-only, permission), or
    None for any other OSError (a bug, shown with its traceback)."""
    fix = _STORAGE_FIXES.get(error.errno or 0)
    if fix is None:
        return None
    where = f" writing {error.filename}" if error.filename else ""
    return (
        f"{error.strerror or error}{where}: {fix}. Everything written before this point is kept; "
        "run the same command again to resume."
    )


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks too (exit codes stay the same).")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "--verbose",
            "-v",
            help="Also show the model libraries' and engines' own output, which otherwise goes "
            "only to cascade.log in the run directory.",
        ),
    ] = False,
) -> None:
    STATE["debug"] = debug
    STATE["verbose"] = verbose


@contextlib.contextmanager
def third_party_logs(log: Path, title: str) -> Iterator[None]:
    """Send what model libraries and engine processes print to the `log` file (a run's or a
    sweep's cascade.log; with --verbose, on to the terminal too); cascade's own lines still reach
    the terminal."""
    from cascade.core import logs

    def echo(text: str) -> None:
        errors.print(text, end="", markup=False, highlight=False, soft_wrap=True)

    saved = [(c, c._file) for c in (console, errors)]
    try:
        with logs.capture(log, echo=echo if STATE["verbose"] else None, title=title) as captured:
            console.file, errors.file = captured.stdout, captured.stderr
            yield
    finally:
        for shown, file in saved:
            shown._file = file


Captioners = Annotated[
    list[str] | None,
    typer.Option("--captioner", "-c", help="Front-end stage (preset or registered name); repeat."),
]
Sets = Annotated[
    list[str] | None, typer.Option("--set", "-s", help="Override any config key: key=value.")
]


def _registered_executor(name: str | None) -> str | None:
    """A usage error (exit code 2) for an executor name nothing registered."""
    if name is not None and name not in registry.names("executor"):
        known = ", ".join(registry.names("executor"))
        raise typer.BadParameter(f"no executor named {name!r}; registered: {known}")
    return name


JudgeExecutor = Annotated[
    str | None,
    typer.Option(
        "--executor",
        help="Run the judge with this executor: local, ray, or one a package registers "
        "(default: as the run ran).",
        callback=_registered_executor,
    ),
]


@app.command()
@reported
def run(
    config: Annotated[
        str, typer.Option("--config", help="Run config name or YAML path.")
    ] = "default",
    captioner: Captioners = None,
    reasoner: Annotated[str | None, typer.Option(help="Reasoner preset or backend.")] = None,
    benchmark: Annotated[str | None, typer.Option(help="Benchmark name.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N items.")] = None,
    set_: Sets = None,
    run_dir: Annotated[Path | None, typer.Option(help="Explicit run directory.")] = None,
    skip_missing_audio: Annotated[
        bool, typer.Option(help="Run without items whose audio is missing (listed in the report).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option(help="Print the resolved plan without loading anything.")
    ] = False,
) -> None:
    """Run (or resume) a cascade over a benchmark and score it."""
    from cascade import commands
    from cascade.run import RunDir, pipeline, preview

    extra: dict[str, Any] = {}
    if run_dir is not None:
        extra["run.run_dir"] = str(run_dir)
    if skip_missing_audio:
        extra["benchmark.skip_missing_audio"] = True
    resolved = configs.resolve(
        config,
        captioners=captioner or (),
        reasoner=reasoner,
        benchmark=benchmark,
        limit=limit,
        overrides=set_ or (),
        extra=extra,
    )
    if dry_run:
        described = preview.describe_plan(resolved)
        described["run_dir"] = str(pipeline.run_directory(resolved))
        print_plan(described)
        return
    log = RunDir(pipeline.run_directory(resolved)).log_path
    with third_party_logs(log, f"cascade run {resolved.name}"), progress_bar() as bar:
        task = bar.add_task(f"{resolved.name}", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        def phase(doing: str) -> None:
            bar.update(task, description=f"{resolved.name}: {doing}" if doing else resolved.name)

        summary = commands.run(resolved, progress=progress, phase=phase)
    from cascade.run import check_answered, claim_json

    print_summary(summary.metrics, summary.to_json() | {"claim": claim_json(resolved)})
    check_answered(summary)  # exit code 3, after every output is written and shown


def progress_bar() -> Progress:
    """The bar long work shows on stderr: items done of the total, and the time taken.

    It leaves sys.stdout and sys.stderr alone: a library that sets up its logging while the bar
    is shown would otherwise write through the bar to the terminal, not to cascade.log."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        redirect_stdout=False,
        redirect_stderr=False,
    )


def print_plan(described: dict[str, Any]) -> None:
    console.print_json(json.dumps(described))


def print_summary(metrics: dict[str, Any], summary: dict[str, Any]) -> None:
    """The score table of a run, after what its reader must know first (scripted components,
    fallbacks); a run in which no item has an answer shows no score at all."""
    from cascade.report import headline_table, skipped_notice

    title = f"{summary['name']} on {metrics['benchmark']}"
    left_out = skipped_notice(summary.get("skipped") or {}, shown=10)
    for notice in [*(summary.get("notices") or []), *([left_out] if left_out else [])]:
        console.print(f"[bold yellow]{notice}[/]", highlight=False)
    unanswered, total = summary.get("unanswered", 0), summary.get("total", metrics["n_items"])
    if total and unanswered >= total:
        console.print(
            f"[bold red]{title}: no score: none of the {total} items has an answer[/] (the "
            "causes follow)",
            highlight=False,
        )
    else:
        _print_frame(headline_table(metrics), title)
        if metrics.get("samples"):
            from cascade.report import samples_table

            _print_frame(
                samples_table(metrics),
                f"{metrics['samples']['k']} samples per item (the table above: majority vote)",
            )
        if unanswered:
            console.print(
                f"[bold red]{unanswered} of {total} items have no answer[/] (counted as wrong "
                "above; the causes follow)",
                highlight=False,
            )
    stages, reasoner = summary["stages"], summary["reasoner"]
    console.print(
        f"items {metrics['n_items']} (resumed {summary['resumed']}, processed "
        f"{summary['processed']}); errors {metrics['errors']}; truncated {metrics['truncated']}; "
        f"stage outputs computed {stages['computed']}, re-used {stages['reused']}; "
        f"answers computed {reasoner['computed']}, re-used {reasoner['reused']}",
        highlight=False,
    )
    from cascade.run import stored_sentence
    from cascade.run.agent import agent_sentence

    if summary.get("agent"):
        console.print(agent_sentence(summary["agent"]), highlight=False)
    if (claim := stored_sentence(summary)) is not None:
        console.print(claim, highlight=False)
    console.print(f"run directory: {summary['run_dir']}", highlight=False)


def _scoring(stored: Any, alpha: float | None, family_size: int | None) -> Any:
    """The scoring settings a run was made with (`stored`; defaults for a predictions file),
    with the command line's `--alpha` / `--family-size` over them, validated."""
    from pydantic import ValidationError

    from cascade.core import ConfigError
    from cascade.scoring import ScoringSpec

    values: dict[str, Any] = stored.model_dump() if stored is not None else {}
    if alpha is not None:
        values["alpha"] = alpha
    if family_size is not None:
        values["family_size"] = family_size
    try:
        return ScoringSpec.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(
            f"--{'-'.join(str(p) for p in e['loc']).replace('_', '-')}: {e['msg']}"
            for e in error.errors()
        )
        raise ConfigError(f"invalid scoring option: {problems}") from None


def _paired_level(alpha: float | None) -> float:
    """The level of compare's paired tests: `--alpha`, or the one default of every paired test."""
    from cascade.core import ConfigError
    from cascade.scoring import PAIRED_ALPHA

    if alpha is None:
        return PAIRED_ALPHA
    if not 0 < alpha < 1:
        raise ConfigError(f"invalid --alpha {alpha}: the level must be between 0 and 1, e.g. 0.05")
    return alpha


Alpha = Annotated[
    float | None,
    typer.Option(
        help="Level of the test against random guessing (default: the run's scoring.alpha; "
        "0.001 for a predictions file)."
    ),
]
Family = Annotated[
    int | None,
    typer.Option(
        help="Bonferroni family size (default: the run's scoring.family_size; 1 for a "
        "predictions file)."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@app.command()
@reported
def score(
    path: Annotated[
        Path, typer.Argument(help="A run directory or an official-format predictions file.")
    ],
    alpha: Alpha = None,
    family_size: Family = None,
    as_json: AsJson = False,
    output: Annotated[
        Path | None, typer.Option(help="Also write metrics.json and report.md here.")
    ] = None,
    html: Annotated[
        bool, typer.Option(help="Rewrite the run directory's report.html (run directories only).")
    ] = False,
) -> None:
    """Re-score with every scorer and all statistics; needs no model."""
    from cascade.report import render_markdown
    from cascade.run import rescore
    from cascade.scoring import compute_metrics

    scorable = rescore.load(path)
    _print_notices(scorable.notices)
    spec = _scoring(scorable.scoring, alpha, family_size)
    if html:
        if not path.is_dir():
            raise CascadeError(f"--html needs a run directory; {path} is a predictions file")
        from cascade.report import write_run_report

        console.print(f"written: {write_run_report(path)}", highlight=False)
    metrics = compute_metrics(
        scorable.items,
        scorable.results,
        spec,
        benchmark=scorable.benchmark,
        samples=scorable.samples,
    )
    metrics["missing_prediction"] = list(scorable.missing_prediction)
    if output is not None:
        from cascade.run import RunDir

        output.mkdir(parents=True, exist_ok=True)
        written = RunDir(output)
        written.write_metrics(metrics)
        written.write_report_md(
            render_markdown(metrics, {**scorable.summary, "name": scorable.name})
        )
    if as_json:
        console.print_json(json.dumps(metrics))
        _check_scored(scorable)
        return
    from cascade.report import group_table, headline_table

    _print_frame(headline_table(metrics), f"{scorable.name} on {scorable.benchmark}")
    for key in ("modality", "category"):
        _print_frame(group_table(metrics, key), f"by {key}")
    console.print(
        f"items {metrics['n_items']}; invalid (strict) {metrics['invalid']['strict']}; "
        f"truncated {metrics['truncated']}; errors {metrics['errors']}; "
        f"without a prediction (skipped, as the official scorer does): "
        f"{len(scorable.missing_prediction)}",
        highlight=False,
    )
    _check_scored(scorable)


def _print_notices(notices: Sequence[str]) -> None:
    """What the reader of a re-scored run must know (a damaged file rebuilt), on stderr so that
    --json output stays JSON."""
    for notice in notices:
        errors.print(f"[bold yellow]notice:[/] {notice}", highlight=False, soft_wrap=True)


def _check_scored(scorable: Any) -> None:
    """Exit code 3 when the scored run or file has items without an answer: an error, an empty
    prediction, or no prediction at all."""
    empty = scorable.unanswered()
    missing = len(scorable.missing_prediction)
    if empty or missing:
        total = len(scorable.results) + missing
        raise ItemsFailed(
            f"{len(empty) + missing} of {total} items of {scorable.name} have no answer "
            f"({len(empty)} failed or empty, e.g. {', '.join(empty[:3]) or '-'}; {missing} "
            "without a prediction): they count as wrong, or are skipped when the prediction is "
            "missing. The scores above are written; re-run the run (it retries failed items) or "
            "fix the predictions file.",
            len(empty) + missing,
        )


@app.command()
@reported
def compare(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Run directories or predictions files; the first is the base."),
    ],
    alpha: Annotated[
        float | None,
        typer.Option(
            help="Level of the paired tests, Bonferroni-corrected for the runs compared with "
            "the first (default 0.05, as in ablation sweeps)."
        ),
    ] = None,
    as_json: AsJson = False,
    html: Annotated[
        Path | None, typer.Option(help="Also write a self-contained HTML report here.")
    ] = None,
) -> None:
    """Side-by-side accuracy with exact paired tests (McNemar) against the first run.

    Runs are labelled by their directory or file. Only the items every run scored are compared;
    each run's accuracy is scored with its own stored scoring settings.
    """
    from cascade.analysis import compare as comparing
    from cascade.run import rescore

    level = _paired_level(alpha)
    if len(paths) < 2:
        raise CascadeError("compare needs at least two runs")
    runs = [(str(p), rescore.load(p)) for p in paths]
    _print_notices([n for _, scorable in runs for n in scorable.notices])
    compared = comparing.compare(runs, alpha=level)
    compared["rubrics"] = comparing.rubric_pairs(paths, alpha=level)
    if html is not None:
        from cascade.core import write_atomic
        from cascade.report import compare_page

        run_dirs = [p if p.is_dir() else None for p in paths]
        write_atomic(html, compare_page(compared, run_dirs, html))
        console.print(f"written: {html}", highlight=False)
    if as_json:
        console.print_json(json.dumps(compared))
        return
    if (note := comparing.shared_note(compared)) is not None:
        console.print(f"[bold]note:[/] {note}", highlight=False)
    _print_frame(comparing.accuracy_table(compared), "accuracy")
    _print_frame(comparing.paired_table(compared), "paired against the first run")
    if compared["rubrics"]:
        _print_frame(
            comparing.rubric_table(compared["rubrics"]),
            "MMAR-Rubrics scores paired against the first run (same protocol and judge)",
        )
    for pair in compared["paired"]:
        if pair["scorer"] == "strict" and (pair["to_correct"] or pair["to_wrong"]):
            console.print(
                f"{pair['run']} vs {pair['base']} (strict): wrong->right "
                f"{', '.join(pair['to_correct']) or '-'}; right->wrong "
                f"{', '.join(pair['to_wrong']) or '-'}",
                highlight=False,
            )


@app.command()
@reported
def describe(
    audio: Annotated[list[Path], typer.Argument(help="Audio files.")],
    captioner: Captioners = None,
    config: Annotated[
        str, typer.Option("--config", help="Run config for the default stages.")
    ] = "default",
    set_: Sets = None,
    as_json: AsJson = False,
) -> None:
    """Print what the cascade hears in any audio files: per stage and composed (uses the cache)."""
    from cascade.core import Cache
    from cascade.run import Clipped, Counts, compose, plan, run_stages

    resolved = configs.resolve(config, captioners=captioner or (), overrides=set_ or ())
    stages = plan.build_stages(resolved)
    template = plan.load_prompts(resolved).description
    counts = Counts()
    items = [Clipped(str(p), p) for p in audio]
    cache = Cache(resolved.cache_dir)
    cache.check_writable()
    records = run_stages(items, stages, cache, counts)
    report: list[dict[str, Any]] = []
    for item in items:
        outputs = [r.output for r in records[item.item_id]]
        ok = all(o.ok for o in outputs)
        report.append(
            {
                "audio": item.item_id,
                "stages": [
                    o.to_json() | {"cached": r.cached}
                    for o, r in zip(outputs, records[item.item_id], strict=True)
                ],
                "description": compose(outputs, template) if ok else None,
            }
        )
    if as_json:
        console.print_json(json.dumps(report, default=str))
    else:
        for entry in report:
            console.rule(entry["audio"])
            for stage in entry["stages"]:
                state = "cached" if stage["cached"] else "computed"
                if stage["error"]:
                    console.print(
                        f"[red]{stage['stage']}: error: {stage['error']}[/]", highlight=False
                    )
                else:
                    console.print(
                        f"[bold]{stage['stage']}[/] ({stage['kind']}, {state}): {stage['text']}",
                        highlight=False,
                    )
            if entry["description"] is not None:
                console.print("[bold]composed description[/]")
                console.print(entry["description"], highlight=False, markup=False)
        console.print(
            f"stage outputs computed {counts.computed}, re-used {counts.reused}, "
            f"failed {counts.failed}"
        )
    failed = [entry["audio"] for entry in report if entry["description"] is None]
    if failed:
        raise ItemsFailed(
            f"{len(failed)} of {len(report)} clips have no description ({', '.join(failed[:3])}"
            f"{', ...' if len(failed) > 3 else ''}): see the stage errors above",
            len(failed),
        )


@app.command()
@reported
def ablate(
    sweep: Annotated[str, typer.Argument(help="Sweep file, or a name under configs/ablations/.")],
    set_: Sets = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N items.")] = None,
    only: Annotated[
        list[str] | None, typer.Option(help="Run only these variations (and the base); repeat.")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Sweep folder (tables, runs).")] = None,
    by: Annotated[
        list[str] | None,
        typer.Option(help="Break the table down by modality, category, sub-category or language."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="List the variations and their run directories; run nothing.")
    ] = False,
) -> None:
    """Run an ablation sweep: the base and every variation as ordinary runs, then one table."""
    from cascade import commands
    from cascade.analysis import ablate as ablating
    from cascade.analysis import sweep_table
    from cascade.core import logs
    from cascade.run import ComponentPool, executor_by_name, pipeline

    overrides = tuple(set_ or ()) + ((f"benchmark.limit={limit}",) if limit else ())
    expanded = ablating.load_sweep(sweep, overrides=overrides, output=output, by=by)
    if only:
        known = [v.name for v in expanded.variations]
        if unknown := sorted(set(only) - set(known)):
            raise CascadeError(f"no variation {unknown} in sweep {expanded.name}; has {known}")
        kept = tuple(v for v in expanded.variations if v.name == ablating.BASE or v.name in only)
        expanded = ablating.Sweep(expanded.name, expanded.spec, expanded.folder, kept)
    if dry_run:
        for variation in expanded.variations:
            console.print(
                f"{variation.name}: {pipeline.run_directory(variation.config)}", highlight=False
            )
        return

    def run_one(variation: ablating.Variation) -> dict[str, Any]:
        with progress_bar() as bar:
            task = bar.add_task(variation.name, total=None)
            summary = commands.run(
                variation.config,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
                pool=pool,
            )
        return summary.to_json()

    def run_all(
        variations: Sequence[ablating.Variation],
    ) -> list[dict[str, Any] | CascadeError]:
        with progress_bar() as bar:
            tasks = [bar.add_task(v.name, total=None) for v in variations]

            def progress(index: int) -> Callable[[int, int], None]:
                return lambda done, total: bar.update(tasks[index], completed=done, total=total)

            doing = bar.add_task("", total=None, visible=False)

            def phase(text: str) -> None:
                bar.update(doing, description=text, visible=bool(text))

            ended = commands.run_together(
                [v.config for v in variations], progress=progress, phase=phase
            )
        return [e if isinstance(e, CascadeError) else e.to_json() for e in ended]

    # An executor that shares work (Ray) runs every variation as one job.
    together = executor_by_name(expanded.variations[0].config.run.executor).shares_work
    with (
        third_party_logs(expanded.folder / logs.LOG_FILE, f"cascade ablate {expanded.name}"),
        ComponentPool() as pool,  # each model is loaded once for the whole sweep
    ):
        if together:
            outcomes = ablating.run_sweep_together(expanded, run_all)
        else:
            outcomes = ablating.run_sweep(expanded, run_one)
    results = commands.finish_sweep(expanded, outcomes)

    scorer = expanded.spec.scorer
    _print_frame(
        sweep_table.compact_table(results.table, scorer),
        f"sweep {expanded.name} (paired figures: {scorer} scorer)",
    )
    _print_frame(sweep_table.work_table(results.summaries), "work done by this invocation")
    console.print(
        f"sweep folder: {expanded.folder} (table.md, table.csv, flips.json, report.html)",
        highlight=False,
    )
    for notice in sorted({n for o in outcomes for n in o.summary.get("notices") or []}):
        console.print(f"[bold yellow]{notice}[/]", highlight=False)
    for problem in ablating.problems(outcomes):
        errors.print(f"[bold red]{problem}[/]", highlight=False, soft_wrap=True)
    raise typer.Exit(ablating.exit_code(outcomes))


@app.command()
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
    from cascade.report.cues import attribution_frame, coverage_frame, level_frame
    from cascade.run import RunDir

    logged = path.is_dir() and judge_ is not None
    with (
        third_party_logs(RunDir(path).log_path, f"cascade cues {path.name} --judge {judge_}")
        if logged
        else contextlib.nullcontext()
    ):
        results = commands.cues(
            path,
            judge_,
            oracle=oracle,
            scorer=scorer,
            overrides=tuple(set_ or ()),
            executor=executor,
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
            _print_frame(coverage_frame(result.record), f"cue coverage (%) of {name}")
            _print_frame(attribution_frame(result.record), f"why answers were wrong: {name}")
            if result.record["by_level"]["rows"]:
                _print_frame(level_frame(result.record), f"accuracy by cue coverage: {name}")
            console.print(f"written: {result.file}", highlight=False)
    unjudged = [(r, i) for r in results for i in r.unjudged]
    if unjudged:
        first = unjudged[0][0]
        raise ItemsFailed(
            f"{len(unjudged)} items have cues without a verdict (a judge call failed or its "
            f"reply could not be read; e.g. {', '.join(i for _, i in unjudged[:3])}): see "
            f"`judge_calls` in {first.file}. Failed judge calls are retried by running the same "
            "command again (replies that were read are cached).",
            len(unjudged),
        )


@app.command()
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
            raise CascadeError("--protocol ungated needs a judge: --judge PRESET")
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
        described = commands.judge_rubrics_plan(path, judge_, output=output, price=price)
        console.print_json(json.dumps(described))
        return
    from cascade.analysis import rubrics

    settings = rubrics.Settings(
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
        console.print_json(json.dumps(result.summary))
    else:
        _print_rubrics(result)
    _check_rubrics(result)


def _print_rubrics(result: Any) -> None:
    """The totals as the official script prints them (score and accuracy x100 over the
    evaluated items), with 95% intervals, then what was left out."""
    import pandas as pd

    summary = result.summary

    def row(group: str, t: dict[str, Any]) -> dict[str, Any]:
        low, high = t["score_ci"]
        return {
            "group": group,
            "n": t["n"],
            "score [95% CI]": f"{t['score']:.2f} [{low:.2f}, {high:.2f}]",
            "accuracy %": f"{t['accuracy']:.2f}",
        }

    rows = [row("all", summary["overall"])]
    for table, groups in summary["groups"].items():
        rows += [row(f"{table}={value}", t) for value, t in groups.items()]
    _print_frame(pd.DataFrame(rows), f"{result.label} of {summary['name']}")
    calls = summary["calls"] or {}
    console.print(
        f"evaluated {summary['overall']['n']}; not evaluated {len(summary['not_evaluated'])}; "
        f"without a prediction {len(summary['without_prediction'])} (the official script's "
        f'"No prediction count": {summary["no_prediction_count"]}); judge calls made '
        f"{calls.get('made', 0)}, re-used {calls.get('reused', 0)}, invalid replies "
        f"{calls.get('invalid', 0)}, rate-limited {calls.get('rate_limited', 0)}",
        highlight=False,
    )
    for note in summary["notes"]:
        console.print(f"note: {note}", highlight=False)
    console.print(f"written: {result.target.output}", highlight=False)


def _check_rubrics(result: Any) -> None:
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
    from cascade.analysis import judge as judging
    from cascade.core import pct
    from cascade.run import RunDir

    logged = run_dir.is_dir()  # else judge_run says what is wrong with the path
    with (
        third_party_logs(RunDir(run_dir).log_path, f"cascade judge {run_dir.name} --judge {judge_}")
        if logged
        else contextlib.nullcontext()
    ):
        result = commands.judge(
            run_dir,
            judge_,
            samples=samples,
            prompt=prompt,
            overrides=overrides,
            executor=executor,
        )
    table = result.table.copy()
    for column in ("rubric", "rubric_ci_low", "rubric_ci_high", "accuracy"):
        if column in table:
            table[column] = [pct(v) for v in table[column]]
    _print_frame(table, f"{judging.LABEL} (%) of {run_dir.name} by {judge_}")
    statuses: dict[str, int] = {}
    for item in result.judged:
        statuses[item.status] = statuses.get(item.status, 0) + 1
    counts = result.counts
    console.print(
        "items: "
        + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        + f"; judge calls computed {counts.computed}, re-used {counts.reused}, "
        f"failed {counts.failed}",
        highlight=False,
    )
    console.print(f"written: {', '.join(str(p) for p in result.files.values())}", highlight=False)
    unjudged = [j.id for j in result.judged if j.status in judging.UNJUDGED]
    if unjudged:
        why = ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()) if k in judging.UNJUDGED)
        raise ItemsFailed(
            f"{len(unjudged)} of {len(result.judged)} items have no rubric score ({why}"
            f"; e.g. {', '.join(unjudged[:3])}): see the failed calls and unread replies in "
            f"{result.files['json']}. Failed judge calls are retried by running the same command "
            "again (replies that were read are cached).",
            len(unjudged),
        )


def _print_frame(frame: Any, title: str) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    console.print(table)


@app.command("list")
@reported
def list_() -> None:
    """Registered captioners, reasoners, benchmarks, executors, presets and prompts."""
    from cascade.core import prompts

    table_name: registry.Table
    for table_name in ("captioner", "reasoner", "benchmark", "executor"):
        table = Table(title=f"{table_name}s")
        for column in ("name", "extra", "installed", "summary"):
            table.add_column(column)
        for name in registry.names(table_name):
            entry = registry.entry(table_name, name)
            extra, installed = _extra_status(table_name, name)
            table.add_row(name, extra, installed, entry.summary)
        console.print(table)
    for folder in ("captioners", "reasoners"):
        table = Table(title=f"{folder[:-1]} presets (--{folder[:-1]} NAME)")
        for column in ("preset", "component", "published row claimed, or what it is for"):
            table.add_column(column)
        for name, path in configs.presets(folder).items():
            spec = configs.component_spec(str(path), folder)
            claim = spec.get("claim") or {}
            shown = f"claims {claim['row']}" if claim else spec.get("note") or ""
            table.add_row(name, str(spec.get("name")), str(shown))
        console.print(table)
    table = Table(title="prompts")
    table.add_column("prompt")
    table.add_column("version")
    table.add_column("summary")
    for name in prompts.available():
        template = prompts.load(name)
        table.add_row(name, str(template.version), template.summary)
    console.print(table)


def _extra_status(table: registry.Table, name: str) -> tuple[str, str]:
    """The entry's extra and whether the modules it needs are importable."""
    try:
        obj = registry.resolve(table, name)
    except ImportError as error:
        return "?", f"no ({error.name})"
    except RegistryError as error:  # a package's entry that cannot be imported (`run` says why)
        missing = getattr(error.__cause__, "name", None)
        return "?", f"no ({missing or 'its package cannot be imported'})"
    extra = getattr(obj, "extra", None) or "-"
    missing = [m for m in getattr(obj, "requires", ()) if importlib.util.find_spec(m) is None]
    return extra, ("no: " + ", ".join(missing)) if missing else "yes"


@cache_app.command("ls")
@reported
def cache_ls(
    cache_dir: Annotated[Path | None, typer.Option(help="Cache root.")] = None,
) -> None:
    """Entries and size per component."""
    from cascade.core import Cache

    cache = Cache(cache_dir)
    table = Table(title=f"cache at {cache.root}")
    for column in ("namespace", "entries", "size"):
        table.add_column(column)
    total = 0
    for usage in cache.usage():
        total += usage.bytes
        table.add_row(usage.namespace, str(usage.entries), _size(usage.bytes))
    console.print(table)
    console.print(f"total {_size(total)}")


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def main() -> None:
    """Console entry point."""
    app(prog_name="cascade")


if __name__ == "__main__":
    main()
