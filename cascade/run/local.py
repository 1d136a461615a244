"""The local executor (`run.executor: local`): this process computes a run's missing work, batch
by batch, on the schedule `run.schedule` names."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ClassVar

from cascade.core import Item
from cascade.run.answering import Answerer, answer
from cascade.run.config import ComponentSpec, RunSpec
from cascade.run.executor import Executor
from cascade.run.frontend import run_stages
from cascade.run.isolation import Counts
from cascade.run.job import FrontendBatch, Job, Runner
from cascade.scoring import ItemResult


class LocalExecutor(Executor):
    """Every stage and the reasoner in this process; a sweep's runs one after the other."""

    name: ClassVar[str] = "local"
    runs_agents: ClassVar[bool] = True

    def start(self, job: Job) -> None:
        """Load and check every component of a run with work left before its first item, so
        that one that cannot start fails the run in seconds instead of after the front-end has
        run. The reasoner goes first (a large engine is the likeliest to fail); with the
        `frontend-first` schedule it is left to load after the front-end pass, since it is not
        meant to share memory with it."""
        if not job.todo:
            return
        runner = job.runner
        if runner.config.run.schedule != "frontend-first" or not runner.stages:
            runner.reasoner.load()
        for stage in [*runner.stages, *(runner.agent.stages if runner.agent else ())]:
            stage.component.load()

    def compute(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            _compute(job)

    def answerer(self, spec: ComponentSpec, run: RunSpec) -> tuple[Answerer, int]:
        return answer, run.batch_size


def _compute(job: Job) -> None:
    runner = job.runner
    size = runner.config.run.batch_size
    todo = job.todo
    batches = [todo[start : start + size] for start in range(0, len(todo), size)]
    schedule = runner.config.run.schedule
    counts = job.summary.frontend
    fresh: set[tuple[str, str]] = set()
    if schedule == "frontend-first" and runner.stages:
        for batch in batches:
            fresh |= _frontend(runner, batch, counts).computed()  # into the cache
        for stage in runner.stages:
            stage.component.close()
        counts = Counts()  # the answering pass reads the front-end from the cache
    # With `overlap`, the front-end of batch k+1 runs while the reasoner answers batch k (at
    # most two batches in flight); model libraries release the GIL, so the stages overlap.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="frontend")
    try:
        ahead: Future[FrontendBatch] | None = None
        for index, batch in enumerate(batches):
            front = ahead.result() if ahead is not None else _frontend(runner, batch, counts)
            front = front.mark_computed(fresh) if fresh else front
            ahead = None
            if schedule == "overlap" and index + 1 < len(batches):
                ahead = pool.submit(_frontend, runner, batches[index + 1], counts)
            job.record(_answer(job, batch, front))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _frontend(runner: Runner, items: Sequence[Item], counts: Counts) -> FrontendBatch:
    if not runner.stages:  # text-only or oracle: no clip is read, no model called
        return FrontendBatch({i.id: [] for i in items}, 0.0)
    before = counts.model_seconds
    clipped, audio_errors = runner.clips(items)
    records = run_stages(clipped, runner.stages, runner.cache, counts)
    seconds = counts.model_seconds - before
    return FrontendBatch.assemble(records, audio_errors, runner.stages, counts, seconds)


def _answer(job: Job, items: Sequence[Item], front: FrontendBatch) -> list[ItemResult]:
    """One result per item and pending sample, in item then sample order."""
    runner = job.runner
    started = time.perf_counter()
    failed, requests = runner.prepare(items, front, job.pending)
    done = {(r.id, r.sample): r for r in failed}
    for result in runner.answer(requests, front, job.summary.reasoner, started):
        done[result.id, result.sample] = result
    return [done[i.id, sample] for i in items for sample in job.pending[i.id]]
