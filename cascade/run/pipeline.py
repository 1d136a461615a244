"""The lifecycle of a run, defined once for every executor: plan, look up, compute what is
missing, settle and record, finalise.

1. Plan: the benchmark, components, prompts and cache a config names (`cascade.run.plan`).
2. Look up: what the run directory already answers (`begin`); the executor (`run.executor`,
   `cascade.run.executor`) then loads what computes in this process (`Executor.start`).
3. Compute what is missing: the executor's one job (`Executor.compute`). It settles each
   answer (`answering.settle`: an empty answer is a failure; complete answers are cached) and
   records each result (`Job.record`: written to results.jsonl as soon as it is done, counted,
   checked against the failure-rate limit).
4. Finalise: predictions, metrics and summary from the run directory (`finalize`), also when
   the run stopped at its failure-rate limit or was interrupted.

A failing item (an empty answer included) is recorded with its error and the run goes on, until
the failure rate passes the configured limit. Running the same config again resumes: answered
items are kept, failed ones are retried, nothing is computed twice (the cache holds every stage
and reasoner output). The summary counts the items left without an answer; the CLI turns them
into exit code 3.

With `run.samples: k` the front-end runs once per item and the reasoner answers it k times (one
request per sample index, each its own cache entry); there is one result line per (item,
sample), and resuming retries exactly the samples without an answer. An item counts as answered
when all its samples are.

`execute` runs one config; `execute_together` runs several (a sweep's variations) through the
same lifecycle as one job of an executor that shares their work (`Executor.shares_work`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from cascade.core import (
    Benchmark,
    Cache,
    CascadeError,
    ConfigError,
    FailureRateExceeded,
    Interrupted,
)
from cascade.run import plan
from cascade.run.agent import Agent, summarise
from cascade.run.answering import answered, pending_samples
from cascade.run.claims import claim_json
from cascade.run.config import RunConfig
from cascade.run.costs import Budget, account
from cascade.run.estimate import ReasonerEstimate, estimate, price_for
from cascade.run.executor import executor_by_name, refuse_agent
from cascade.run.job import Job, Phase, Progress, Runner
from cascade.run.pool import ComponentPool
from cascade.run.rundir import RunDir, Samples, predictions_of
from cascade.run.summary import RunSummary
from cascade.run.variations import needs_audio
from cascade.scoring import compute_metrics, majority_results, scorers

Outcome = RunSummary | CascadeError
"""How one of several runs executed together ended: its summary, or the error that stopped it."""


def run_directory(config: RunConfig) -> Path:
    return config.run.run_dir or config.run.output_dir / f"{config.name}-{config.fingerprint()}"


def begin(
    runner: Runner, run_dir: RunDir, progress: Progress | None = None, phase: Phase | None = None
) -> Job:
    """The run's state before its first item: what the run directory already answers, and
    the (item, sample) pairs still to do."""
    config = runner.config
    items = runner.benchmark.items
    summary = RunSummary(
        run_dir=run_dir.path,
        name=config.name,
        benchmark=runner.benchmark.name,
        total=len(items),
        notices=plan.notices(config),
        scripted=plan.scripted(config),
        skipped=dict(runner.benchmark.skipped),
    )
    previous = run_dir.load_samples()
    # Latest outcome per (item, sample) (True = failed): answers kept, failures retried.
    failed = {
        (i, sample): not answered(r)
        for i, by_sample in previous.items()
        for sample, r in by_sample.items()
    }
    pending = {i.id: pending_samples(i, previous, config.run.samples) for i in items}
    summary.resumed = sum(1 for i in items if not pending[i.id])
    return Job(runner, run_dir, summary, pending, failed, progress, phase)


def finalize(
    run_dir: RunDir, config: RunConfig, benchmark: Benchmark, summary: RunSummary
) -> dict[str, Any]:
    """Compact the results; write predictions, metrics.json and summary.json (the reports are
    rendered from these by the report layer: `cascade.commands.run`)."""
    order = [i.id for i in benchmark.items]
    samples = run_dir.compact(order)
    results = majority_results(benchmark.items, samples)
    run_dir.write_predictions(predictions_of(benchmark, results))
    summary.unanswered = sum(
        1 for item in benchmark.items if pending_samples(item, samples, config.run.samples)
    )
    if config.agent is not None:
        traces = [
            r.get("agent") or {} for by_sample in samples.values() for r in by_sample.values()
        ]
        summary.agent = summarise(t for t in traces if t)
    summary.cost = _account(summary, samples, config)
    summary_json = summary.to_json() | {"claim": claim_json(config)}
    metrics = compute_metrics(
        benchmark.items,
        results,
        config.scoring,
        benchmark=benchmark.name,
        skipped=benchmark.skipped,
        cache={"stages": summary_json["stages"], "reasoner": summary_json["reasoner"]},
        samples=samples,
    )
    metrics["notices"], metrics["scripted"] = summary.notices, summary.scripted
    if summary.agent is not None:
        metrics["agent"] = summary_json["agent"]
    run_dir.write_metrics(metrics)
    run_dir.write_summary(summary_json)
    summary.metrics = metrics
    return metrics


def _account(summary: RunSummary, samples: Samples, config: RunConfig) -> dict[str, Any]:
    """The cost record of the run's result lines (`cascade.run.costs.account`)."""
    estimate_json = summary.estimate or {}
    model = str(estimate_json.get("priced_as") or config.reasoner.name)
    return account(
        (line for by_sample in samples.values() for line in by_sample.values()),
        price_for(config, model),
        model=model,
        batch=bool(estimate_json.get("batch")),
        stages=summary.frontend.by_stage,
        estimate=summary.estimate,
    )


def execute(
    config: RunConfig,
    *,
    progress: Progress | None = None,
    cache: Cache | None = None,
    pool: ComponentPool | None = None,
    phase: Phase | None = None,
) -> RunSummary:
    """Run (or resume) the cascade described by `config` and write its run directory.

    With a `pool`, components come from it (loaded once for many runs) and stay open.

    Raises:
        CascadeError: the run cannot start, or a run-wide failure stopped it.
        FailureRateExceeded: past the failure-rate limit, after finalising what is done.
        Interrupted: on Ctrl-C, after finalising what is done.
    """
    (ended,) = _lifecycle(
        [config], alone=True, progress=lambda _: progress, cache=cache, pool=pool, phase=phase
    )
    if isinstance(ended, CascadeError):  # a run alone raises; never returned
        raise ended
    return ended


def execute_together(
    configs: Sequence[RunConfig],
    *,
    progress: Callable[[int], Progress | None] | None = None,
    phase: Phase | None = None,
) -> list[Outcome]:
    """Run (or resume) several configs as one job of their executor, e.g. a sweep's variations
    under Ray: each front-end output is computed once for all of them and their requests share
    one pool per reasoner. Each run writes its own run directory; a run that cannot start or
    passes its failure-rate limit is reported in its place and the others go on.

    Args:
        configs: the runs, all with one `run.executor` and one cache.
        progress: the progress callback of the i-th run, if any.
        phase: what the runs are doing together (their front-end pass), if wanted.

    Raises:
        CascadeError: the cluster or a component cannot start (result lines written so far are
            kept, as a lone run keeps them, and the same command resumes).
        Interrupted: on Ctrl-C, after every run's results so far are written.
    """
    caches = {str(c.cache_dir) for c in configs}
    if len(caches) > 1:
        raise ConfigError(f"runs executed together must share one cache; these use {caches}")
    executors = sorted({c.run.executor for c in configs})
    if len(executors) > 1:
        raise ConfigError(f"runs executed together must share one executor; these use {executors}")
    return _lifecycle(configs, alone=False, progress=progress, cache=None, pool=None, phase=phase)


def _lifecycle(
    configs: Sequence[RunConfig],
    *,
    alone: bool,
    progress: Callable[[int], Progress | None] | None,
    cache: Cache | None,
    pool: ComponentPool | None,
    phase: Phase | None,
) -> list[Outcome]:
    """The one lifecycle of every run. `alone` (a lone run): an error that stops a run is
    raised; otherwise it is that run's outcome and the others go on."""
    executor = executor_by_name(configs[0].run.executor)
    for config in configs:
        refuse_agent(executor, config)
    cache = cache or Cache(configs[0].cache_dir)  # runs executed together share one
    cache.check_writable()  # before any item, which would otherwise fail as unreadable audio
    outcomes: list[Outcome | None] = [None] * len(configs)
    jobs: list[tuple[int, Job]] = []
    with ExitStack() as stack:
        for index, config in enumerate(configs):
            try:
                runner = _plan(config, cache, pool)
                cache = runner.cache
                if pool is None:  # pooled components outlive the run; the pool closes them
                    stack.callback(_close, runner)
                run_dir = stack.enter_context(RunDir(run_directory(config)))
                run_dir.check_config(config.model_dump(mode="json"), config.fingerprint())
                job = begin(runner, run_dir, progress(index) if progress else None, phase)
                if runner.agent is not None:  # the summary counts the calls as they are made
                    job.summary.tools = runner.agent.toolbox.counts
                _budget(job)  # before any model loads: a refused run costs nothing
                executor.start(job)
            except CascadeError as error:
                if alone:
                    raise
                outcomes[index] = error
                continue
            job.report_progress()
            jobs.append((index, job))
        for _, job in jobs:  # with others, a run past its failure-rate limit is set aside
            job.alone = len(jobs) == 1
        started = time.perf_counter()
        try:
            if jobs:
                executor.compute([job for _, job in jobs])
        except FailureRateExceeded:  # a run alone, stopped: what it did is finalised
            for _, job in jobs:
                _finish(job, started)
            raise
        except KeyboardInterrupt:
            for _, job in jobs:
                job.summary.stopped = "interrupted"
                _finish(job, started)
            where = f"in {jobs[0][1].run_dir.path}" if alone and jobs else "in each run's directory"
            raise Interrupted(
                f"interrupted: the results so far are {where} (reports included); run the same "
                "command again to resume"
            ) from None
        for index, job in jobs:
            _finish(job, started)
            outcomes[index] = job.stopped or job.summary
    return [o for o in outcomes if o is not None]


def _budget(job: Job) -> None:
    """Record the plan's estimate in the summary and set the run's cost limit; refuse a run
    whose worst case exceeds `run.max_cost`.

    Raises:
        ConfigError: the worst case exceeds the limit, or the limit cannot be checked (no
            price, or no output budget).
    """
    runner, config = job.runner, job.runner.config
    figures = estimate(
        config,
        runner.benchmark.items,
        job.pending,
        runner.stages,
        runner.reasoner,
        runner.prompts,
        runner.cache,
    ).reasoner
    assert figures is not None  # every run has a reasoner
    job.summary.estimate = figures.to_json()
    price = price_for(config, figures.priced_as)
    job.budget = Budget(config.run.max_cost, price, figures.batch)
    if config.run.max_cost is not None:
        check_max_cost(config.run.max_cost, figures)


def check_max_cost(limit: float, figures: ReasonerEstimate) -> None:
    """Refuse a run whose worst case costs more than `limit` dollars, or cannot be priced."""
    worst = figures.cost_usd_worst
    if worst is None:
        raise ConfigError(
            f"--max-cost ${limit:g} cannot be checked: {figures.cost_note}. Nothing was run."
        )
    if worst > limit:
        raise ConfigError(
            f"the worst case of this run costs ${worst:,.2f} ({figures.new + figures.at_most_new}"
            f" new requests of up to {figures.max_tokens} output tokens, {figures.cost_note}), "
            f"more than --max-cost ${limit:g}. Nothing was run: raise --max-cost, or lower the "
            "work (--limit, run.samples, reasoner.config.max_tokens); `--dry-run` shows the plan."
        )


def _plan(config: RunConfig, cache: Cache | None, pool: ComponentPool | None) -> Runner:
    """The run's parts: its benchmark, components (from the pool, if any), prompts and cache."""
    benchmark = plan.load_benchmark(config.benchmark, need_audio=needs_audio(config))
    scorers()  # a package's scorer that cannot be read fails here, before any answer is computed
    if pool is not None:
        pool.retain(config)
    stages = pool.stages(config) if pool is not None else plan.build_stages(config)
    reasoner = pool.reasoner(config) if pool is not None else plan.build_reasoner(config)
    prompts = plan.load_prompts(config)
    cache = cache or Cache(config.cache_dir)
    agent = Agent.build(config, cache)
    return Runner(config, benchmark, stages, reasoner, prompts, cache, agent=agent)


def _close(runner: Runner) -> None:
    for stage in [*runner.stages, *(runner.agent.stages if runner.agent else ())]:
        stage.component.close()
    runner.reasoner.close()


def _finish(job: Job, started: float) -> None:
    job.summary.wall_seconds = time.perf_counter() - started
    if job.stopped is not None:
        job.summary.stopped = str(job.stopped)
    runner = job.runner
    finalize(job.run_dir, runner.config, runner.benchmark, job.summary)
