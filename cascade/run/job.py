"""A run in progress and the steps of it that every executor shares.

A `Runner` holds what a run is made of (its config, benchmark, components, prompts and cache); a
`Job` is one invocation of it over a run directory: what is still to do, and `record`, the one
way a finished result reaches results.jsonl, the summary's counts and the failure-rate limit. An
executor (`cascade.run.executor`) computes the missing work and hands every result to `record`;
the stage records it assembles (`FrontendBatch.assemble`), the requests and failures it answers
(`Runner.prepare`) and the result lines it writes (`answered_result`) are made here, once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from cascade.core import (
    AudioError,
    Benchmark,
    Cache,
    CascadeError,
    ChatRequest,
    FailureRateExceeded,
    Item,
    Reasoner,
    messages_hash,
)
from cascade.run.agent import Agent, AgentResult, AgentStart, ItemAudio
from cascade.run.answering import AGENT_STOPS, Answerer, AnswerRecord, answer, render_request
from cascade.run.config import RunConfig
from cascade.run.costs import Budget
from cascade.run.frontend import Clipped, Stage, StageRecord, audio_failures
from cascade.run.isolation import Counts
from cascade.run.plan import Prompts
from cascade.run.rundir import RunDir
from cascade.run.summary import RunSummary
from cascade.run.variations import Perturbation
from cascade.scoring import ItemResult

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

    @classmethod
    def assemble(
        cls,
        records: Mapping[str, list[StageRecord]],
        audio_errors: Mapping[str, str],
        stages: Sequence[Stage],
        counts: Counts,
        model_seconds: float,
    ) -> FrontendBatch:
        """The batch of the items heard (`records`) and of those whose audio could not be made
        (every stage failed, counted), with the model time spread over all of them."""
        every = {**records, **audio_failures(audio_errors, stages, counts)}
        return cls(every, model_seconds / max(len(every), 1), dict(audio_errors))

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


@dataclass(frozen=True)
class Pending:
    """A request to the reasoner for one sample of an item, with the description it shows."""

    item: Item
    description: str
    request: ChatRequest
    audio: ItemAudio | None = None
    """What an agent run's tools hear of the item (None in a one-way run)."""


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
        agent: Agent | None = None,
    ) -> None:
        self.config = config
        self.agent = agent
        """The agent of an agent run: its tools and loop (None: the one-way cascade)."""
        self.benchmark = benchmark
        self.stages = stages
        self.reasoner = reasoner
        self.prompts = prompts
        self.cache = cache
        self.perturbation = perturbation or Perturbation(config, benchmark.items, cache.root)
        self.items_by_id = {i.id: i for i in benchmark.items}

    def clips(self, items: Sequence[Item]) -> tuple[list[Clipped], dict[str, str]]:
        """What the front-end hears of each item (its clip, or an ablation's substitute), and
        the items whose substitute could not be made (with why)."""
        clipped: list[Clipped] = []
        audio_errors: dict[str, str] = {}
        for item in items:
            try:
                path = self.perturbation.audio(item)
            except CascadeError as error:
                audio_errors[item.id] = str(error)
                continue
            clipped.append(Clipped(item.id, path, item.question, item.choices))
        return clipped, audio_errors

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
            audio: ItemAudio | None = None
            try:
                description = self.perturbation.describe(
                    item, [r.output for r in records], self.prompts.description
                )
                if self.agent is None:
                    request = render_request(item, description, self.prompts.answer)
                else:
                    shown = description if self.agent.spec.sees == "description" else None
                    path = self.perturbation.audio(item)
                    if path is None:
                        raise AudioError(f"item {item.id}: no audio file for the agent's tools")
                    request, audio = self.agent.first_request(item, shown, path)
            except AudioError as error:
                failed[item.id] = ItemResult(
                    id=item.id,
                    raw_answer=None,
                    error=str(error),
                    error_stage="audio",
                    stages=stages_json,
                )
                continue
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
                Pending(item, description, replace(request, sample_index=sample), audio)
                for sample in pending[item.id]
            )
        failures = [
            replace(result, sample=sample)
            for item_id, result in failed.items()
            for sample in pending[item_id]
        ]
        return failures, requests

    def answer(
        self,
        requests: Sequence[Pending],
        front: FrontendBatch,
        counts: Counts,
        started: float,
        answerer: Answerer = answer,
    ) -> list[ItemResult]:
        """The result of every request, in order: the reasoner's answer (cache first), or in an
        agent run the end of its conversation with the tools (`cascade.run.agent`)."""
        if self.agent is None:
            records = answerer([p.request for p in requests], self.reasoner, self.cache, counts)
            return [
                answered_result(p, r, front, time.perf_counter() - started)
                for p, r in zip(requests, records, strict=True)
            ]
        starts = [AgentStart(p.item, p.request, p.audio) for p in requests if p.audio is not None]
        ended = self.agent.run(starts, self.reasoner, self.cache, counts, answerer)
        return [
            agent_result(p, r, front, time.perf_counter() - started)
            for p, r in zip(requests, ended, strict=True)
        ]

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
    Every executor hands it every finished result (`record`)."""

    runner: Runner
    run_dir: RunDir
    summary: RunSummary
    pending: dict[str, list[int]]
    """Item id -> the samples without an answer when the run began."""
    failed: dict[tuple[str, int], bool]
    """(item, sample) -> whether its latest result failed (for the failure-rate limit)."""
    progress: Progress | None = None
    phase: Phase | None = None
    alone: bool = True
    """The only run of its invocation: passing the failure-rate limit stops the invocation
    (raises). A run executed together with others is set aside instead (`stopped`)."""
    done: set[str] = field(default_factory=set)
    """Items of `todo` all of whose pending samples have a result from this invocation."""
    stopped: FailureRateExceeded | None = None
    """Set when a run executed together with others passed its failure-rate limit (or its cost
    limit): its later results are dropped, the other runs go on."""
    budget: Budget | None = None
    """`run.max_cost` over the answers this invocation computes."""
    _written: dict[str, int] = field(default_factory=dict)

    @property
    def todo(self) -> list[Item]:
        return [i for i in self.runner.benchmark.items if self.pending[i.id]]

    def report_progress(self) -> None:
        if self.progress:
            total = self.summary.total
            self.progress(self.summary.resumed + self.summary.processed, total)

    def record(self, results: Sequence[ItemResult]) -> None:
        """Write results (any items, any order) to results.jsonl and count them. Past the
        failure-rate limit a run alone raises FailureRateExceeded; one of several is stopped."""
        if not results or self.stopped is not None:
            return
        by_id = self.runner.items_by_id
        lines = [r.to_json(by_id[r.id]) for r in results]
        self.run_dir.append(lines)
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
        try:
            self.runner.check_failure_rate(sum(self.failed.values()), len(self.failed), summary)
            if self.budget is not None:
                self.budget.charge(lines, str(summary.run_dir))
        except FailureRateExceeded as error:
            summary.stopped = str(error)
            if self.alone:
                raise
            self.stopped = error


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
        usage=response.usage(),
        timings={
            "frontend_s": round(front.seconds_per_item, 4),
            "reasoner_s": round(response.latency_s, 4),
            "answer_batch_s": round(batch_seconds, 4),
        },
        sample=request.sample_index,
    )


def agent_result(
    pending: Pending, ended: AgentResult, front: FrontendBatch, batch_seconds: float
) -> ItemResult:
    """The result line of one sample of an agent run: the last turn's answer (or its INVALID
    ending), the readable trace as its reasoning, the whole trace under `agent`."""
    item, final = pending.item, ended.final
    response = final.response if final is not None else None
    raw: str | None
    finish: str | None
    if ended.outcome is None:  # the reasoner failed: retried on resume like any failure
        raw, finish = None, response.finish_reason if response else "error"
    elif ended.outcome in AGENT_STOPS:  # INVALID with that reason, never a guess
        raw, finish = "", ended.outcome
    else:
        raw, finish = (
            response.text if response else "",
            response.finish_reason if response else None,
        )
    return ItemResult(
        id=item.id,
        raw_answer=raw,
        reasoning=ended.reasoning,
        finish_reason=finish,
        error=None if ended.error is None else f"reasoner: {ended.error}",
        error_stage=None if ended.error is None else "reasoner",
        stages=_stages_json(front.records[item.id]),
        description=pending.description,
        prompt_hash=messages_hash(ended.first.messages),
        reasoner_key=final.key if final is not None else None,
        reasoner_cached=ended.cached,
        usage=ended.usage,
        timings={
            "frontend_s": round(front.seconds_per_item, 4),
            "reasoner_s": round(ended.latency_s, 4),
            "answer_batch_s": round(batch_seconds, 4),
        },
        sample=pending.request.sample_index,
        agent=ended.trace,
    )


def _stages_json(records: Sequence[StageRecord]) -> dict[str, dict[str, Any]]:
    return {
        r.output.stage: {"key": r.key, "cached": r.cached, "error": r.output.error} for r in records
    }
