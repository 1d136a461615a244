"""Run a cascade over a benchmark in batches: front-end, description, prompt, reasoner, scores.

Each item's result line is written as soon as its batch is done; a failing item (an empty answer
included) is recorded with its error and the run goes on, until the failure rate passes the
configured limit. Running the same config again resumes: answered items are kept, failed ones are
retried, nothing is computed twice (the cache holds every stage and reasoner output). The summary
counts the items left without an answer; the CLI turns them into exit code 3.

With `run.samples: k` the front-end runs once per item and the reasoner answers it k times (one
request per sample index, each its own cache entry); there is one result line per (item,
sample), and resuming retries exactly the samples without an answer. An item counts as answered
when all its samples are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cascade.core import (
    Benchmark,
    Cache,
    CascadeError,
    ChatRequest,
    ConfigError,
    FailureRateExceeded,
    Interrupted,
    Item,
    ItemsFailed,
    Reasoner,
    StageOutput,
)
from cascade.run import plan
from cascade.run.answering import AnswerRecord, answer, answered, render_request
from cascade.run.claims import claim_json
from cascade.run.config import RunConfig
from cascade.run.frontend import Clipped, Stage, StageRecord, run_stages
from cascade.run.isolation import Counts
from cascade.run.plan import Prompts
from cascade.run.pool import ComponentPool
from cascade.run.rundir import RunDir, Samples
from cascade.run.variations import Perturbation, needs_audio
from cascade.scoring import (
    ItemResult,
    compute_metrics,
    majority_results,
    reasoning_before_answer,
)

Progress = Callable[[int, int], None]
"""Called with (items done, items total) after every batch."""
Phase = Callable[[str], None]
"""Called with what a run is doing when that is not answering items (the Ray executor's
front-end pass: "front-end on Ray: 12/96 outputs"), and with "" when it answers again."""


@dataclass(frozen=True)
class FrontendBatch:
    """The stage outputs of one batch, and the front-end model time per item."""

    records: dict[str, list[StageRecord]]
    seconds_per_item: float
    audio_errors: dict[str, str] = field(default_factory=dict)
    """Items whose substitute audio (an ablation) could not be made: they fail, never hearing
    their own clip instead."""

    def computed(self) -> set[tuple[str, str]]:
        """(item id, stage) of the outputs computed (not read from the cache) for this batch."""
        return {(i, r.output.stage) for i, rs in self.records.items() for r in rs if not r.cached}

    def mark_computed(self, fresh: set[tuple[str, str]]) -> FrontendBatch:
        """The same outputs, with those computed earlier in this run marked as not re-used."""
        records = {
            i: [replace(r, cached=False) if (i, r.output.stage) in fresh else r for r in rs]
            for i, rs in self.records.items()
        }
        return FrontendBatch(records, self.seconds_per_item, self.audio_errors)


@dataclass
class RunSummary:
    run_dir: Path
    name: str
    benchmark: str
    total: int
    resumed: int = 0
    """Items already finished in the run directory before this invocation."""
    processed: int = 0
    """Items this invocation computed a result for."""
    errors: int = 0
    frontend: Counts = field(default_factory=Counts)
    reasoner: Counts = field(default_factory=Counts)
    wall_seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None
    notices: list[str] = field(default_factory=list)
    """What a reader of the numbers must know: scripted components, a preset's fallback."""
    scripted: list[str] = field(default_factory=list)
    """The scripted components (test doubles) of the run: `reasoner`, `captioner:<label>`."""
    unanswered: int = 0
    """Items of the benchmark without an answer when the run finished (errors and pending)."""
    first_errors: dict[str, str] = field(default_factory=dict)
    """Per error stage, the first error of this invocation ("item id: message")."""

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "name": self.name,
            "benchmark": self.benchmark,
            "total": self.total,
            "resumed": self.resumed,
            "processed": self.processed,
            "errors": self.errors,
            "unanswered": self.unanswered,
            "first_errors": self.first_errors,
            "notices": self.notices,
            "scripted": self.scripted,
            "stages": {
                "computed": self.frontend.computed,
                "reused": self.frontend.reused,
                "failed": self.frontend.failed,
                "by_stage": self.frontend.by_stage,
                "model_seconds": round(self.frontend.model_seconds, 3),
            },
            "reasoner": {
                "computed": self.reasoner.computed,
                "reused": self.reasoner.reused,
                "failed": self.reasoner.failed,
                "model_seconds": round(self.reasoner.model_seconds, 3),
            },
            "wall_seconds": round(self.wall_seconds, 3),
            "stopped": self.stopped,
        }


def run_directory(config: RunConfig) -> Path:
    return config.run.run_dir or config.run.output_dir / f"{config.name}-{config.fingerprint()}"


def unanswered_message(summary: RunSummary) -> str:
    """The paragraph of exit code 3: how many items have no answer, why, and what to do."""
    causes = "; ".join(summary.first_errors.values()) or "see results.jsonl"
    return (
        f"{summary.unanswered} of {summary.total} items of {summary.name} have no answer "
        f"(the first failure of each stage: {causes}). Every output is written to "
        f"{summary.run_dir}; those items count as wrong there. Fix the cause and run the same "
        "command again: only the failed items are retried."
    )


def check_answered(summary: RunSummary) -> None:
    """Raise ItemsFailed (exit code 3) when the finished run left items without an answer."""
    if summary.unanswered:
        raise ItemsFailed(unanswered_message(summary), summary.unanswered)


def predictions_line(item: Item, result: dict[str, Any], key: str) -> dict[str, Any]:
    """The item in its benchmark's own format plus the prediction keys its official scorer reads."""
    return {
        **item.meta,
        key: result["answer_prediction"],
        # A model without a separate trace reasons in its answer: a judge reads that reasoning.
        "thinking_prediction": result.get("reasoning")
        or reasoning_before_answer(result.get("raw_answer") or ""),
    }


class Runner:
    """Holds the components of one run, loaded once, for every batch."""

    def __init__(
        self,
        config: RunConfig,
        benchmark: Benchmark,
        stages: Sequence[Stage],
        reasoner: Reasoner,
        prompts: Prompts,
        cache: Cache,
        perturbation: Perturbation | None = None,
    ) -> None:
        self.config = config
        self.benchmark = benchmark
        self.stages = stages
        self.reasoner = reasoner
        self.prompts = prompts
        self.cache = cache
        self.perturbation = perturbation or Perturbation(config, benchmark.items, cache.root)
        self.summary: RunSummary | None = None
        self.items_by_id = {i.id: i for i in benchmark.items}

    def _frontend(self, items: Sequence[Item], counts: Counts) -> FrontendBatch:
        if not self.stages:  # text-only or oracle: no clip is read, no model called
            return FrontendBatch({i.id: [] for i in items}, 0.0)
        before = counts.model_seconds
        clipped: list[Clipped] = []
        audio_errors: dict[str, str] = {}
        for item in items:
            try:
                clipped.append(
                    Clipped(item.id, self.perturbation.audio(item), item.question, item.choices)
                )
            except CascadeError as error:
                audio_errors[item.id] = str(error)
        records = run_stages(clipped, self.stages, self.cache, counts)
        for item_id, message in audio_errors.items():
            records[item_id] = [
                StageRecord(
                    StageOutput(item_id, s.label, s.component.kind, error=message), None, False
                )
                for s in self.stages
            ]
            for stage in self.stages:
                counts.add(stage.label, "failed")
        seconds = (counts.model_seconds - before) / max(len(items), 1)
        return FrontendBatch(records, seconds, audio_errors)

    def prepare(
        self, items: Sequence[Item], front: FrontendBatch, pending: Mapping[str, Sequence[int]]
    ) -> tuple[list[ItemResult], list[Pending]]:
        """Each item's failure (audio, a stage, its prompt) or its requests: a failed result or
        a request per pending sample."""
        failed: dict[str, ItemResult] = {}
        requests: list[Pending] = []
        for item in items:
            records = front.records[item.id]
            stages_json = _stages_json(records)
            broken = next((r for r in records if not r.output.ok), None)
            if item.id in front.audio_errors:
                failed[item.id] = ItemResult(
                    id=item.id,
                    raw_answer=None,
                    error=front.audio_errors[item.id],
                    error_stage="audio",
                    stages=stages_json,
                )
                continue
            if broken is not None:
                failed[item.id] = ItemResult(
                    id=item.id,
                    raw_answer=None,
                    error=f"stage {broken.output.stage}: {broken.output.error}",
                    error_stage=f"stage:{broken.output.stage}",
                    stages=stages_json,
                )
                continue
            try:
                description = self.perturbation.describe(
                    item, [r.output for r in records], self.prompts.description
                )
                request = render_request(item, description, self.prompts.answer)
            except CascadeError as error:
                failed[item.id] = ItemResult(
                    id=item.id,
                    raw_answer=None,
                    error=str(error),
                    error_stage="prompt",
                    stages=stages_json,
                )
                continue
            requests.extend(
                Pending(item, description, replace(request, sample_index=sample))
                for sample in pending[item.id]
            )
        failures = [
            replace(result, sample=sample)
            for item_id, result in failed.items()
            for sample in pending[item_id]
        ]
        return failures, requests

    def _answer(
        self,
        items: Sequence[Item],
        front: FrontendBatch,
        summary: RunSummary,
        pending: Mapping[str, Sequence[int]],
    ) -> list[ItemResult]:
        """One result per item and pending sample, in item then sample order."""
        started = time.perf_counter()
        failed, requests = self.prepare(items, front, pending)
        answers = answer([p.request for p in requests], self.reasoner, self.cache, summary.reasoner)
        done = {(r.id, r.sample): r for r in failed}
        for one, record in zip(requests, answers, strict=True):
            done[one.item.id, one.request.sample_index] = answered_result(
                one, record, front, time.perf_counter() - started
            )
        return [done[i.id, sample] for i in items for sample in pending[i.id]]

    def begin(
        self, run_dir: RunDir, progress: Progress | None = None, phase: Phase | None = None
    ) -> Job:
        """The run's state before its first item: what the run directory already answers, and
        the (item, sample) pairs still to do."""
        config = self.config
        items = self.benchmark.items
        summary = RunSummary(
            run_dir=run_dir.path,
            name=config.name,
            benchmark=self.benchmark.name,
            total=len(items),
            notices=plan.notices(config),
            scripted=plan.scripted(config),
        )
        self.summary = summary
        previous = run_dir.load_samples()
        # Latest outcome per (item, sample) (True = failed): answers kept, failures retried.
        failed = {
            (i, sample): not answered(r)
            for i, by_sample in previous.items()
            for sample, r in by_sample.items()
        }
        pending = {i.id: pending_samples(i, previous, config.run.samples) for i in items}
        summary.resumed = sum(1 for i in items if not pending[i.id])
        job = Job(self, run_dir, summary, pending, failed, progress, phase)
        job.report_progress()
        return job

    def run(
        self, run_dir: RunDir, progress: Progress | None = None, phase: Phase | None = None
    ) -> RunSummary:
        """Run the items the run directory does not answer yet, with the configured executor."""
        started = time.perf_counter()
        job = self.begin(run_dir, progress, phase)
        try:
            if self.config.run.executor == "ray":
                from cascade.run import distributed  # imports ray: only when asked for

                distributed.run_jobs([job])
            else:
                self._run_local(job)
        finally:
            job.summary.wall_seconds = time.perf_counter() - started
        return job.summary

    def _run_local(self, job: Job) -> None:
        size = self.config.run.batch_size
        todo = job.todo
        batches = [todo[start : start + size] for start in range(0, len(todo), size)]
        schedule = self.config.run.schedule
        summary = job.summary
        counts = summary.frontend
        fresh: set[tuple[str, str]] = set()
        if schedule == "frontend-first" and self.stages:
            for batch in batches:
                fresh |= self._frontend(batch, summary.frontend).computed()  # into the cache
            for stage in self.stages:
                stage.component.close()
            counts = Counts()  # the answering pass reads the front-end from the cache
        # With `overlap`, the front-end of batch k+1 runs while the reasoner answers batch k (at
        # most two batches in flight); model libraries release the GIL, so the stages overlap.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="frontend")
        try:
            ahead: Future[FrontendBatch] | None = None
            for index, batch in enumerate(batches):
                front = ahead.result() if ahead is not None else self._frontend(batch, counts)
                front = front.mark_computed(fresh) if fresh else front
                ahead = None
                if schedule == "overlap" and index + 1 < len(batches):
                    ahead = pool.submit(self._frontend, batches[index + 1], counts)
                job.record(self._answer(batch, front, summary, job.pending))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def check_failure_rate(self, errors: int, seen: int, summary: RunSummary) -> None:
        limits = self.config.run
        if seen >= limits.min_items_for_failure_rate and errors / seen > limits.max_failure_rate:
            summary.stopped = (
                f"stopped: {errors} of {seen} items failed ({100 * errors / seen:.0f}%), more than "
                f"run.max_failure_rate={limits.max_failure_rate}. Results so far are in "
                f"{summary.run_dir}; see the `error` field of results.jsonl, fix the cause and run "
                "the same command again to resume (failed items are retried)."
            )
            raise FailureRateExceeded(summary.stopped)


@dataclass
class Job:
    """One run in progress: its runner, run directory and summary, and what is left to do.
    Both executors hand it every finished result (`record`)."""

    runner: Runner
    run_dir: RunDir
    summary: RunSummary
    pending: dict[str, list[int]]
    """Item id -> the samples without an answer when the run began."""
    failed: dict[tuple[str, int], bool]
    """(item, sample) -> whether its latest result failed (for the failure-rate limit)."""
    progress: Progress | None = None
    phase: Phase | None = None
    done: set[str] = field(default_factory=set)
    """Items of `todo` all of whose pending samples have a result from this invocation."""
    stopped: FailureRateExceeded | None = None
    """Set when a sweep's variation passed its failure-rate limit under the Ray executor (its
    later results are dropped, the other variations go on)."""
    _written: dict[str, int] = field(default_factory=dict)

    @property
    def todo(self) -> list[Item]:
        return [i for i in self.runner.benchmark.items if self.pending[i.id]]

    def report_progress(self) -> None:
        if self.progress:
            total = self.summary.total
            self.progress(self.summary.resumed + self.summary.processed, total)

    def record(self, results: Sequence[ItemResult]) -> None:
        """Write results (any items, any order) to results.jsonl and count them; raises
        FailureRateExceeded when too many of the run's items have failed."""
        if not results:
            return
        by_id = self.runner.items_by_id
        self.run_dir.append(r.to_json(by_id[r.id]) for r in results)
        self.run_dir.sync()
        summary = self.summary
        summary.errors += sum(r.error is not None for r in results)
        for r in results:
            if r.error is not None and r.error_stage is not None:
                summary.first_errors.setdefault(r.error_stage, f"{r.id}: {r.error}")
            self._written[r.id] = self._written.get(r.id, 0) + 1
            if self._written[r.id] == len(self.pending[r.id]):
                self.done.add(r.id)
        summary.processed = len(self.done)
        self.failed.update(((r.id, r.sample), r.error is not None) for r in results)
        self.report_progress()
        self.runner.check_failure_rate(sum(self.failed.values()), len(self.failed), summary)


@dataclass(frozen=True)
class Pending:
    """A request to the reasoner for one sample of an item, with the description it shows."""

    item: Item
    description: str
    request: ChatRequest


def answered_result(
    pending: Pending, record: AnswerRecord, front: FrontendBatch, batch_seconds: float
) -> ItemResult:
    """The result line of one sample that reached the reasoner."""
    item, request, response = pending.item, pending.request, record.response
    return ItemResult(
        id=item.id,
        raw_answer=response.text if response.ok else None,
        reasoning=response.reasoning,
        finish_reason=response.finish_reason,
        error=None if response.ok else f"reasoner: {response.error}",
        error_stage=None if response.ok else "reasoner",
        stages=_stages_json(front.records[item.id]),
        description=pending.description,
        prompt_hash=record.prompt_hash,
        reasoner_key=record.key,
        reasoner_cached=record.cached,
        usage={
            "prompt_tokens": response.prompt_tokens,
            "completion_tokens": response.completion_tokens,
        },
        timings={
            "frontend_s": round(front.seconds_per_item, 4),
            "reasoner_s": round(response.latency_s, 4),
            "answer_batch_s": round(batch_seconds, 4),
        },
        sample=request.sample_index,
    )


def _stages_json(records: Sequence[StageRecord]) -> dict[str, dict[str, Any]]:
    return {
        r.output.stage: {"key": r.key, "cached": r.cached, "error": r.output.error} for r in records
    }


def finalize(
    run_dir: RunDir, config: RunConfig, benchmark: Benchmark, summary: RunSummary
) -> dict[str, Any]:
    """Compact the results; write predictions, metrics.json and summary.json (the reports are
    rendered from these by the report layer: `cascade.commands.run`)."""
    order = [i.id for i in benchmark.items]
    samples = run_dir.compact(order)
    results = majority_results(benchmark.items, samples)
    predictions = [
        predictions_line(item, results[item.id], benchmark.prediction_key)
        for item in benchmark.items
        if item.id in results
    ]
    run_dir.write_predictions(predictions)
    summary.unanswered = sum(
        1 for item in benchmark.items if pending_samples(item, samples, config.run.samples)
    )
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
    run_dir.write_metrics(metrics)
    run_dir.write_summary(summary_json)
    summary.metrics = metrics
    return metrics


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
    """
    benchmark = plan.load_benchmark(config.benchmark, need_audio=needs_audio(config))
    if pool is not None:
        pool.retain(config)
    stages = pool.stages(config) if pool is not None else plan.build_stages(config)
    reasoner = pool.reasoner(config) if pool is not None else plan.build_reasoner(config)
    prompts = plan.load_prompts(config)
    cache = cache or Cache(config.cache_dir)
    runner = Runner(config, benchmark, stages, reasoner, prompts, cache)
    with RunDir(run_directory(config)) as run_dir:
        run_dir.check_config(config.model_dump(mode="json"), config.fingerprint())
        # Under Ray the components load in their actors, never in this process.
        local = config.run.executor == "local"
        if local and unfinished(benchmark.items, run_dir.load_samples(), config.run.samples):
            try:
                load_components(config, stages, reasoner)
            except BaseException:
                if pool is None:
                    _close(stages, reasoner)
                raise
        try:
            summary = runner.run(run_dir, progress, phase)
        except FailureRateExceeded:
            if runner.summary is not None:
                finalize(run_dir, config, benchmark, runner.summary)
            raise
        except KeyboardInterrupt:
            if runner.summary is None:
                raise
            runner.summary.stopped = "interrupted"
            finalize(run_dir, config, benchmark, runner.summary)
            raise Interrupted(
                f"interrupted: the results so far are in {run_dir.path} (reports included); run "
                "the same command again to resume"
            ) from None
        finally:
            if pool is None:
                _close(stages, reasoner)
        finalize(run_dir, config, benchmark, summary)
    return summary


def pending_samples(item: Item, previous: Samples, samples: int) -> list[int]:
    """The samples of an item with no answer yet in the run directory (absent, failed or
    empty): the run loop's own rule for what it retries."""
    mine = previous.get(item.id, {})
    return [s for s in range(samples) if s not in mine or not answered(mine[s])]


def unfinished(items: Sequence[Item], previous: Samples, samples: int = 1) -> bool:
    """Whether any item has a sample without an answer in the run directory."""
    return any(pending_samples(i, previous, samples) for i in items)


def load_components(config: RunConfig, stages: Sequence[Stage], reasoner: Reasoner) -> None:
    """Load and check every component of the run before its first item, so that one that cannot
    start fails the run in seconds instead of after the front-end has run. The reasoner goes
    first (a large engine is the likeliest to fail); with the `frontend-first` schedule it is
    left to load after the front-end pass, since it is not meant to share memory with it."""
    if config.run.schedule != "frontend-first" or not stages:
        reasoner.load()
    for stage in stages:
        stage.component.load()


def _close(stages: Sequence[Stage], reasoner: Reasoner) -> None:
    for stage in stages:
        stage.component.close()
    reasoner.close()


Outcome = RunSummary | CascadeError
"""How one of several runs executed together ended: its summary, or the error that stopped it."""


def execute_together(
    configs: Sequence[RunConfig],
    *,
    progress: Callable[[int], Progress | None] | None = None,
    phase: Phase | None = None,
) -> list[Outcome]:
    """Run (or resume) several configs as one Ray job (`run.executor: ray`), e.g. a sweep's
    variations: each front-end output is computed once for all of them and their requests share
    one pool per reasoner. Each run writes its own run directory; a run that cannot start or
    passes its failure-rate limit is reported in its place and the others go on.

    Args:
        configs: the runs, all with `run.executor: ray` and one cache.
        progress: the progress callback of the i-th run, if any.
        phase: what the runs are doing together (their front-end pass), if wanted.

    Raises:
        CascadeError: the cluster or a component cannot start (result lines written so far are
            kept, as a lone run keeps them, and the same command resumes).
        Interrupted: on Ctrl-C, after every run's results so far are written.
    """
    from cascade.run import distributed  # imports ray: only when asked for

    caches = {str(c.cache_dir) for c in configs}
    if len(caches) > 1:
        raise ConfigError(f"runs executed together must share one cache; these use {caches}")
    outcomes: list[Outcome | None] = [None] * len(configs)
    jobs: list[tuple[int, Job]] = []
    started = time.perf_counter()
    with ExitStack() as stack:
        cache: Cache | None = None
        for index, config in enumerate(configs):
            try:
                benchmark = plan.load_benchmark(config.benchmark, need_audio=needs_audio(config))
                cache = cache or Cache(config.cache_dir)
                runner = Runner(
                    config,
                    benchmark,
                    plan.build_stages(config),
                    plan.build_reasoner(config),
                    plan.load_prompts(config),
                    cache,
                )
                run_dir = stack.enter_context(RunDir(run_directory(config)))
                run_dir.check_config(config.model_dump(mode="json"), config.fingerprint())
            except CascadeError as error:
                outcomes[index] = error
                continue
            jobs.append(
                (index, runner.begin(run_dir, progress(index) if progress else None, phase))
            )
        try:
            if jobs:
                distributed.run_jobs([job for _, job in jobs])
        except KeyboardInterrupt:
            for _, job in jobs:
                job.summary.stopped = "interrupted"
                _finish(job, started)
            raise Interrupted(
                "interrupted: the results so far are in each run's directory (reports included); "
                "run the same command again to resume"
            ) from None
        for index, job in jobs:
            _finish(job, started)
            outcomes[index] = job.stopped or job.summary
    return [o for o in outcomes if o is not None]


def _finish(job: Job, started: float) -> None:
    job.summary.wall_seconds = time.perf_counter() - started
    if job.stopped is not None:
        job.summary.stopped = str(job.stopped)
    runner = job.runner
    finalize(job.run_dir, runner.config, runner.benchmark, job.summary)
