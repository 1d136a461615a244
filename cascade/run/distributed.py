"""The Ray executor (`run.executor: ray`): a run's missing work as Ray Data jobs.

The driver (the `cascade` process) keeps every step of the run's lifecycle (`cascade.run.pipeline`:
what the run directory already answers, cache look-ups, descriptions, prompts, result lines, the
failure-rate limit) and sends only the model work to the cluster, in two passes:

1. Front-end. The (captioner, clip) outputs missing from the cache, each once however many items
   or sweep variations need it, are a Dataset per captioner, mapped by `map_batches` over an
   actor pool of that captioner (its model loaded once per actor; actors, CPUs, GPUs and memory
   from its `runtime.ray`). Actors write their outputs to the content-addressed cache (on
   storage every node mounts) through the same `run_stages` the local executor uses, and send
   them back to the driver.
2. Answering. The requests whose answer is not in the cache, of every run given (a sweep's
   variations), are one Dataset per reasoner: `ray.data.llm`'s vLLM processor where the cluster
   has GPUs and the reasoner provides one (`ray_processor`), else the reasoner itself in an
   actor pool (an OpenAI-compatible endpoint sees at most `actors` x its own `concurrency`
   requests at once). Answers stream back block by block; the driver settles them (an empty
   answer is a failure; complete answers are cached) and appends each block's result lines to
   its run's results.jsonl before reading the next.

Killing the driver loses at most the blocks in flight: front-end outputs are in the cache, written
result lines are kept, and the same command resumes. A killed actor is restarted by Ray and its
block retried (Ray Data's actor pools default to unlimited restarts and task retries), so nothing
is lost or written twice. The executor is a runtime choice: it enters no fingerprint and no key.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from cascade.core import (
    Cache,
    CascadeError,
    ChatRequest,
    ConfigError,
    RayResources,
    Reasoner,
    ReasonerResponse,
    StageOutput,
    digest,
    registry,
)
from cascade.run import plan
from cascade.run.answering import (
    Answerer,
    AnswerRecord,
    answer,
    generate_isolated,
    look_up,
    reuse,
    settle,
)
from cascade.run.config import ComponentSpec, RunSpec
from cascade.run.executor import Executor
from cascade.run.frontend import Clipped, Stage, StageRecord, hash_clips, run_stages
from cascade.run.frontend import look_up as look_up_stage
from cascade.run.isolation import Counts
from cascade.run.job import FrontendBatch, Job, Pending, answered_result
from cascade.scoring import ItemResult

if TYPE_CHECKING:
    import pandas as pd
    from ray.data import Dataset

RAY_EXTRA = "pip install -e '.[ray]'"
log = logging.getLogger(__name__)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            f"run.executor=ray needs Ray, which is not installed here: {RAY_EXTRA} (or set "
            "run.executor=local)"
        ) from None
    return ray


@contextmanager
def cluster(address: str | None) -> Iterator[Any]:
    """Ray, connected: to `address`, else to RAY_ADDRESS, else to a local cluster started here
    (and stopped at the end). A connection made by the caller is used as it is."""
    ray = _ray()
    if ray.is_initialized():
        yield ray
        return
    target = address or os.environ.get("RAY_ADDRESS") or "local"
    _check_reachable(target)
    try:
        ray.init(
            address=target,  # "local": a new cluster, never one someone else started here
            include_dashboard=False,
            logging_level="WARNING",
            # Workers import this cascade: a local cluster's workers run in this environment.
            runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(_import_paths())}}
            if target == "local"
            else None,
        )
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ConfigError(
            f"could not reach the Ray cluster {target!r}: {error}. Check run.ray_address (or "
            "RAY_ADDRESS): `ray status` on the head node shows its address"
        ) from None
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()


def _check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail in seconds on a cluster address nothing answers at (`ray.init` would keep trying to
    reach it for minutes). `local` and `auto` are Ray's own to resolve."""
    if address in ("local", "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(
            f"run.ray_address {address!r} is not a cluster address: give `auto` (the cluster this "
            "node joined), HOST:PORT of the head node (6379 by default) or ray://HOST:10001"
        )
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as error:
        raise ConfigError(
            f"no Ray cluster answers at {address!r} ({error}): check run.ray_address (or "
            "RAY_ADDRESS); `ray status` on the head node shows its address"
        ) from None


def _import_paths() -> list[str]:
    """The folders this process imports cascade from (first), then the inherited path."""
    import cascade

    root = str(Path(cascade.__file__).resolve().parent.parent)
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return [root, *[p for p in inherited if p != root]]


class RayExecutor(Executor):
    """The stages as Ray Data jobs; runs executed together share their work."""

    name: ClassVar[str] = "ray"
    extra: ClassVar[str | None] = "ray"
    requires: ClassVar[tuple[str, ...]] = ("ray",)
    shares_work: ClassVar[bool] = True

    def schedule(self, run: RunSpec) -> str:
        return "frontend-first"  # the front-end is its own pass, before any answer

    def compute(self, jobs: Sequence[Job]) -> None:
        run_jobs(jobs)

    def answerer(self, spec: ComponentSpec, run: RunSpec) -> tuple[Answerer, int]:
        """Every judge call at once, through a Ray pool of the judge (or the vLLM processor on
        GPUs) for the requests not in the cache."""
        return answerer(spec, run.ray_address, run.batch_size), sys.maxsize


def run_jobs(jobs: Sequence[Job]) -> None:
    """Run every job's remaining items on Ray; the jobs' front-end outputs are computed once
    and their requests share one pool per reasoner. Components load in their actors, never in
    this process (those that only check, `light_load`, are checked here first).
    """
    address = jobs[0].runner.config.run.ray_address
    with cluster(address) as ray:
        try:
            for job in jobs:
                stages = job.runner.stages
                _check_components(
                    [
                        *(
                            (f"captioner {s.label!r}", f"captioners.{n}.runtime.ray", s.component)
                            for n, s in enumerate(stages)
                        ),
                        (
                            f"reasoner {job.runner.config.reasoner.stage!r}",
                            "reasoner.runtime.ray",
                            job.runner.reasoner,
                        ),
                    ],
                    ray,
                )
            for job in jobs:  # what can fail in seconds fails before any work
                for component in (*(s.component for s in job.runner.stages), job.runner.reasoner):
                    if component.light_load:
                        component.load()
            cache = jobs[0].runner.cache
            fronts = _frontend(jobs, cache)
            _answering(jobs, fronts, cache, gpus=ray.cluster_resources().get("GPU", 0) > 0)
        except Exception as error:
            _reraise(error)


def _reraise(error: Exception) -> NoReturn:
    """Raise a CascadeError as it is; anything else Ray raised as a CascadeError that says so
    (components' own exceptions never get here: they fail their item, `run_isolated`)."""
    if isinstance(error, CascadeError):
        raise error
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    raise CascadeError(
        f"the Ray job failed: {type(error).__name__}: {first} (Ray's own logs are under the "
        "session folder it names, /tmp/ray/session_latest/logs by default); the results so far "
        "are kept: run the same command again to resume"
    ) from error


# -- resources ----------------------------------------------------------------------------------


def _resources(component: Any) -> RayResources:
    resources: RayResources = component.runtime.ray
    return resources


def _check_components(components: Sequence[tuple[str, str, Any]], ray: Any) -> None:
    """Refuse a pool the cluster cannot hold at all (Ray would wait for it forever).

    Args:
        components: (name, the `--set` key of its `runtime.ray`, the component).
        ray: the connected `ray` module.
    """
    cluster = ray.cluster_resources()
    for name, key, component in components:
        wanted = _resources(component)
        for kind, each in (("CPU", wanted.num_cpus), ("GPU", wanted.num_gpus)):
            have = cluster.get(kind, 0.0)
            if each * wanted.actors > have:
                setting = "num_cpus" if kind == "CPU" else "num_gpus"
                raise ConfigError(
                    f"{name}: runtime.ray.actors={wanted.actors} x "
                    f"runtime.ray.{setting}={each:g} needs {each * wanted.actors:g} {kind}s; "
                    f"the Ray cluster has {have:g}. Lower one of them (--set {key}.actors=... "
                    f"or --set {key}.{setting}=...) or add nodes to the cluster"
                )


def _map_kwargs(resources: RayResources, batch_size: int) -> dict[str, Any]:
    from ray.data import ActorPoolStrategy

    return {
        "compute": ActorPoolStrategy(size=resources.actors),
        "num_cpus": resources.num_cpus,
        "num_gpus": resources.num_gpus or None,
        "memory": resources.memory_gb * 2**30 if resources.memory_gb else None,
        "batch_size": resources.batch_size or batch_size,
        "batch_format": "pandas",
    }


def _spec_json(spec: ComponentSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json")


def _pool_key(table: registry.Table, spec: ComponentSpec) -> str:
    return digest([table, spec.name, spec.config, spec.runtime])


def _build(table: registry.Table, spec: Mapping[str, Any], label: str) -> Any:
    """The component in a worker, loaded; any failure to start becomes a CascadeError."""
    try:
        component = plan.build(table, ComponentSpec.model_validate(spec))
        component.load()
    except CascadeError:
        raise
    except Exception as error:
        raise CascadeError(
            f"{table} {label!r} could not start on a Ray worker: {type(error).__name__}: {error}"
        ) from None
    return component


FATAL = "fatal"
"""The column in which an actor returns a verdict about the run (a CascadeError: a component
that cannot start, a broken contract) instead of raising it: Ray would hand the driver only its
text, wrapped in its own exceptions. The driver raises it again (`_raise_fatal`)."""


def _fatal(batch: pd.DataFrame, columns: Sequence[str], error: CascadeError) -> pd.DataFrame:
    out = batch.copy()
    for column in columns:
        out[column] = None
    out[FATAL] = json.dumps({"exit_code": int(error.exit_code), "message": str(error)})
    return out


def _raise_fatal(batch: Any) -> None:
    """Raise the first verdict an actor returned in this batch, with its exit code."""
    for raw in batch.get(FATAL, ()):
        if raw:
            verdict = json.loads(raw)
            error = CascadeError(verdict["message"])
            error.exit_code = verdict["exit_code"]
            raise error


# -- pass 1: the front-end ----------------------------------------------------------------------


class StageActor:
    """One captioner in a Ray actor: rows of (clip, question) in, stage outputs out."""

    def __init__(self, spec: dict[str, Any], label: str, cache_root: str) -> None:
        self.error: CascadeError | None = None
        self.stage: Stage | None = None
        try:
            self.stage = Stage(label, _build("captioner", spec, label))
        except CascadeError as error:
            self.error = error  # raised with the first batch, where Ray reports it
        self.cache = Cache(Path(cache_root))

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        try:
            return self._describe(batch)
        except CascadeError as error:
            return _fatal(batch, ["output", "seconds"], error)

    def _describe(self, batch: pd.DataFrame) -> pd.DataFrame:
        if self.stage is None:
            raise self.error or CascadeError("the captioner did not start")
        clipped = [
            Clipped(str(n), Path(path), question, tuple(json.loads(choices)))
            for n, (path, question, choices) in enumerate(
                zip(batch["path"], batch["question"], batch["choices"], strict=True)
            )
        ]
        counts = Counts()
        started = time.perf_counter()
        records = run_stages(clipped, [self.stage], self.cache, counts)
        seconds = (time.perf_counter() - started) / max(len(clipped), 1)
        out = batch[["work"]].copy()
        out["output"] = [json.dumps(records[c.item_id][0].output.to_json()) for c in clipped]
        out["seconds"] = seconds
        out[FATAL] = ""
        return out


@dataclass
class _Wanted:
    """Where one stage output is needed: a job's item, under a stage label."""

    job: int
    item_id: str
    label: str
    key: str
    owner: bool
    """The first to ask for it: counted as computed; the others as re-used."""


@dataclass
class _JobFront:
    records: dict[str, dict[str, StageRecord]] = field(default_factory=dict)
    audio_errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def _frontend(jobs: Sequence[Job], cache: Cache) -> list[FrontendBatch]:
    """Every job's stage records for its remaining items, computing the missing ones on Ray."""
    fronts = [_JobFront() for _ in jobs]
    phase = jobs[0].phase
    pools: dict[str, tuple[ComponentSpec, str, list[dict[str, Any]]]] = {}
    wanted: dict[tuple[str, str], list[_Wanted]] = {}
    for index, (job, front) in enumerate(zip(jobs, fronts, strict=True)):
        runner = job.runner
        todo = job.todo
        front.records = {i.id: {} for i in todo}
        if not runner.stages:
            continue
        clipped, front.audio_errors = runner.clips(todo)
        hashes, unreadable = hash_clips(clipped, cache)
        counts = job.summary.frontend
        for stage, spec in zip(runner.stages, runner.config.captioners, strict=True):
            misses = look_up_stage(clipped, stage, cache, hashes, unreadable, front.records, counts)
            namespace = f"stages/{stage.component.identity.name}"
            for clip, key in misses:
                needs = wanted.setdefault((namespace, key), [])
                needs.append(_Wanted(index, clip.item_id, stage.label, key, owner=not needs))
                if len(needs) == 1:
                    _, _, rows = pools.setdefault(
                        _pool_key("captioner", spec), (spec, stage.label, [])
                    )
                    rows.append(
                        {
                            "work": f"{namespace}/{key}",
                            "path": str(clip.path),
                            "question": clip.question,
                            "choices": json.dumps(list(clip.choices)),
                        }
                    )
    ray = _ray()
    by_work = {f"{ns}/{key}": needs for (ns, key), needs in wanted.items()}
    log.info(
        "Ray front-end pass: %d outputs to compute (%s)",
        len(by_work),
        ", ".join(f"{label}: {len(rows)}" for _, label, rows in pools.values()) or "none",
    )
    batch_size = jobs[0].runner.config.run.batch_size
    datasets: list[tuple[str, Dataset, RayResources]] = []
    for spec, label, rows in pools.values():
        resources = _resources(plan.build("captioner", spec))
        dataset = ray.data.from_items(rows).map_batches(
            StageActor,
            fn_constructor_kwargs={
                "spec": _spec_json(spec),
                "label": label,
                "cache_root": str(cache.root),
            },
            **_map_kwargs(resources, batch_size),
        )
        datasets.append((label, dataset, resources))
    done, total = 0, len(by_work)
    for label, dataset in _schedule(datasets, ray.cluster_resources()):
        if phase:
            phase(f"front-end on Ray: {done}/{total} outputs ({label})")
        for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
            _raise_fatal(batch)
            done += len(batch)
            if phase:
                phase(f"front-end on Ray: {done}/{total} outputs ({label})")
            for work, raw, seconds in zip(
                batch["work"], batch["output"], batch["seconds"], strict=True
            ):
                output = StageOutput.from_json(json.loads(raw))
                for need in by_work[work]:
                    front = fronts[need.job]
                    counts = jobs[need.job].summary.frontend
                    mine = replace(output, item_id=need.item_id, stage=need.label)
                    # As locally: only the run that computed an output sees it as new.
                    record = StageRecord(mine, need.key, cached=not need.owner)
                    front.records[need.item_id][need.label] = record
                    counts.tally(output.ok, reused=not need.owner, stage=need.label)
                    if need.owner:
                        counts.model_seconds += float(seconds)
                        front.seconds += float(seconds)
    if phase:
        phase("")
    batches = []
    for job, front in zip(jobs, fronts, strict=True):
        labels = [s.label for s in job.runner.stages]
        for item_id, by_label in front.records.items():
            if item_id not in front.audio_errors and (lost := set(labels) - set(by_label)):
                raise CascadeError(  # Ray returns every row it was given: cannot happen
                    f"the Ray front-end pass returned no {sorted(lost)} output for item "
                    f"{item_id!r}; run the same command again (computed outputs are cached)"
                )
        records = {
            item_id: [by_label[label] for label in labels]
            for item_id, by_label in front.records.items()
            if item_id not in front.audio_errors
        }
        batches.append(
            FrontendBatch.assemble(
                records, front.audio_errors, job.runner.stages, job.summary.frontend, front.seconds
            )
        )
    return batches


def _schedule(
    datasets: Sequence[tuple[str, Dataset, RayResources]], cluster: Mapping[str, float]
) -> list[tuple[str, Dataset]]:
    """The captioners' Datasets as they run: all at once (one union, every pool working
    together) when the cluster holds every pool together, else one after another (each pool
    alone always fits: `_check_components`), so that no pool waits for another's resources."""
    if len(datasets) < 2:
        return [(label, dataset) for label, dataset, _ in datasets]
    fits = all(
        sum(r.actors * getattr(r, f"num_{kind.lower()}s") for _, _, r in datasets)
        <= cluster.get(kind, 0.0)
        for kind in ("CPU", "GPU")
    )
    if not fits:
        return [(label, dataset) for label, dataset, _ in datasets]
    first, *others = (dataset for _, dataset, _ in datasets)
    return [(", ".join(label for label, _, _ in datasets), first.union(*others))]


# -- pass 2: answering --------------------------------------------------------------------------


class ReasonerActor:
    """One reasoner in a Ray actor: rows of requests in, responses out (failures per row)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.error: CascadeError | None = None
        self.reasoner: Reasoner | None = None
        try:
            self.reasoner = _build("reasoner", spec, str(spec.get("name")))
        except CascadeError as error:
            self.error = error

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        try:
            if self.reasoner is None:
                raise self.error or CascadeError("the reasoner did not start")
            requests = [ChatRequest.from_json(json.loads(r)) for r in batch["request"]]
            responses = generate_isolated(self.reasoner, requests)
        except CascadeError as error:
            return _fatal(batch, ["response"], error)
        out = batch.copy()
        out["response"] = [json.dumps(r.to_json()) for r in responses]
        out[FATAL] = ""
        return out


@dataclass
class _Asked:
    job: int
    pending: Pending
    key: str


def _answering(
    jobs: Sequence[Job], fronts: Sequence[FrontendBatch], cache: Cache, *, gpus: bool
) -> None:
    """Every job's remaining answers: failures and cached answers written at once, the rest
    generated on Ray and written block by block."""
    started = time.perf_counter()
    pools: dict[str, tuple[Job, list[dict[str, Any]]]] = {}
    asked: list[list[_Asked]] = []
    """Per row sent to Ray: the runs' samples it answers, the first of them its owner."""
    sent: dict[tuple[str, str], int] = {}
    for index, (job, front) in enumerate(zip(jobs, fronts, strict=True)):
        runner = job.runner
        results, requests = runner.prepare(job.todo, front, job.pending)
        found, missing = look_up(
            [p.request for p in requests], runner.reasoner, cache, job.summary.reasoner
        )
        results += [answered_result(requests[i], record, front, 0.0) for i, record in found.items()]
        job.record(results)
        if not missing:
            continue
        pool = _pool_key("reasoner", runner.config.reasoner)
        _, rows = pools.setdefault(pool, (job, []))
        for i, request, key in missing:
            # The same request from two runs (a variation that changes nothing the prompt
            # shows) is generated once; the later runs re-use its answer, as they would locally.
            number = sent.setdefault((pool, key), len(asked))
            if number == len(asked):
                rows.append({"asked": number, "request": json.dumps(request.to_json())})
                asked.append([])
            asked[number].append(_Asked(index, requests[i], key))
    ray = _ray()
    log.info(
        "Ray answering pass: %d requests to generate in %d reasoner pool(s)",
        len(asked),
        len(pools),
    )
    for owner, rows in pools.values():
        reasoner = owner.runner.reasoner
        dataset = _reasoner_stage(
            ray.data.from_items(rows),
            reasoner,
            owner.runner.config.reasoner,
            batch_size=owner.runner.config.run.batch_size,
            gpus=gpus,
        )
        for answers in _answers(dataset):
            block: dict[int, list[ItemResult]] = {}
            for number, response in answers:
                owner_record: AnswerRecord | None = None
                for one in asked[number]:
                    job = jobs[one.job]
                    if job.stopped is not None:
                        continue
                    counts = job.summary.reasoner
                    if owner_record is None:
                        counts.model_seconds += response.latency_s
                        record = owner_record = settle(
                            one.pending.request, one.key, response, reasoner, cache, counts
                        )
                    else:
                        record = reuse(owner_record, one.pending.request, counts)
                    result = answered_result(
                        one.pending, record, fronts[one.job], time.perf_counter() - started
                    )
                    block.setdefault(one.job, []).append(result)
            for index, results in block.items():
                jobs[index].record(results)


def _answers(dataset: Dataset) -> Iterator[list[tuple[int, ReasonerResponse]]]:
    """The reasoner pass's answers, a block at a time: (row number, response)."""
    for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
        _raise_fatal(batch)
        yield [
            (int(number), ReasonerResponse.from_json(json.loads(raw)))
            for number, raw in zip(batch["asked"], batch["response"], strict=True)
        ]


def _reasoner_stage(
    dataset: Dataset, reasoner: Reasoner, spec: ComponentSpec, *, batch_size: int, gpus: bool
) -> Dataset:
    resources = _resources(reasoner)
    processor = getattr(reasoner, "ray_processor", None)
    wanted = gpus if resources.llm_processor is None else resources.llm_processor
    if wanted and processor is None:
        raise ConfigError(
            f"reasoner {spec.stage!r}: runtime.ray.llm_processor=true, but its backend "
            f"{reasoner.name!r} has no ray.data.llm processor (the `vllm` backend has): "
            "leave the setting out"
        )
    if wanted and processor is not None:
        result: Dataset = processor(resources, resources.batch_size or batch_size)(dataset)
        return result
    return dataset.map_batches(
        ReasonerActor,
        fn_constructor_kwargs={"spec": _spec_json(spec)},
        **_map_kwargs(resources, batch_size),
    )


def answerer(spec: ComponentSpec, address: str | None, batch_size: int) -> Answerer:
    """`answering.answer` on Ray: the reasoner `spec` in an actor pool (or the vLLM processor on
    GPUs) for the requests not in the cache; for the judges, which call it with every request
    at once."""

    def generate_on_ray(
        reasoner: Reasoner, requests: Sequence[ChatRequest], counts: Counts
    ) -> Iterator[tuple[int, ReasonerResponse]]:
        if reasoner.light_load:
            reasoner.load()  # fails in seconds, before a cluster starts
        with cluster(address) as ray:
            try:
                _check_components([(f"judge {spec.stage!r}", "runtime.ray", reasoner)], ray)
                rows = [
                    {"asked": n, "request": json.dumps(request.to_json())}
                    for n, request in enumerate(requests)
                ]
                gpus = ray.cluster_resources().get("GPU", 0) > 0
                dataset = _reasoner_stage(
                    ray.data.from_items(rows), reasoner, spec, batch_size=batch_size, gpus=gpus
                )
                for answers in _answers(dataset):
                    for number, response in answers:
                        counts.model_seconds += response.latency_s
                        yield number, response
            except Exception as error:
                _reraise(error)

    def answer_on_ray(
        requests: Sequence[ChatRequest], reasoner: Reasoner, cache: Cache, counts: Counts
    ) -> list[AnswerRecord]:
        return answer(requests, reasoner, cache, counts, generate=generate_on_ray)

    return answer_on_ray
