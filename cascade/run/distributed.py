"""The Ray executor (`run.executor: ray`): the local executor's stages as Ray Data jobs.

The driver (the `cascade` process) keeps every decision the local executor makes (what the run
directory already answers, cache look-ups, descriptions, prompts, result lines, the failure-rate
limit) and sends only the model work to the cluster, in two passes:

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
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cascade.core import (
    Cache,
    CascadeError,
    ChatRequest,
    ConfigError,
    FailureRateExceeded,
    RayResources,
    Reasoner,
    ReasonerResponse,
    StageOutput,
    digest,
    registry,
)
from cascade.run import plan
from cascade.run.answering import generate_isolated, look_up, settle
from cascade.run.config import ComponentSpec
from cascade.run.frontend import Clipped, Stage, StageRecord, hash_clips, run_stages
from cascade.run.frontend import look_up as look_up_stage
from cascade.run.isolation import Counts
from cascade.run.pipeline import FrontendBatch, Job, Pending, answered_result
from cascade.scoring import ItemResult

if TYPE_CHECKING:
    import pandas as pd
    from ray.data import Dataset

RAY_EXTRA = "pip install -e '.[ray]'"


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
    try:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level="WARNING",
            # Workers import this cascade: a local cluster's workers run in this environment.
            runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(_import_paths())}}
            if address is None and not os.environ.get("RAY_ADDRESS")
            else None,
        )
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ConfigError(
            f"could not reach the Ray cluster {address or os.environ.get('RAY_ADDRESS')!r}: "
            f"{error}. Check run.ray_address (or RAY_ADDRESS), e.g. `ray status` on the head node"
        ) from None
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield ray
    finally:
        ray.shutdown()


def _import_paths() -> list[str]:
    """The folders this process imports cascade from (first), then the inherited path."""
    import cascade

    root = str(Path(cascade.__file__).resolve().parent.parent)
    inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return [root, *[p for p in inherited if p != root]]


def run_jobs(jobs: Sequence[Job]) -> None:
    """Run every job's remaining items on Ray; the jobs' front-end outputs are computed once
    and their requests share one pool per reasoner.

    With one job, the failure-rate limit raises as the local executor does; with several (a
    sweep), a job that passes it is stopped (`Job.stopped`) and the others go on.
    """
    address = jobs[0].runner.config.run.ray_address
    with cluster(address) as ray:
        try:
            _check_resources(jobs, ray.cluster_resources())
            cache = jobs[0].runner.cache
            fronts = _frontend(jobs, cache)
            _answering(jobs, fronts, cache, gpus=ray.cluster_resources().get("GPU", 0) > 0)
        except FailureRateExceeded:
            raise
        except CascadeError:
            raise
        except Exception as error:
            cause = _cascade_cause(error)
            if cause is not None:
                raise cause from None
            raise


def _cascade_cause(error: BaseException) -> CascadeError | None:
    """The CascadeError a worker raised, from the exceptions Ray wraps it in."""
    seen: set[int] = set()
    current: BaseException | None = error
    found: CascadeError | None = None
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CascadeError) and type(current).__module__.startswith("cascade"):
            found = current
        inner = getattr(current, "cause", None)
        current = inner if isinstance(inner, BaseException) else current.__cause__
    return found


# -- resources ----------------------------------------------------------------------------------


def _resources(component: Any) -> RayResources:
    resources: RayResources = component.runtime.ray
    return resources


def _check_resources(jobs: Sequence[Job], cluster: Mapping[str, float]) -> None:
    """Refuse a pool the cluster cannot hold at all (Ray would wait for it forever)."""
    for job in jobs:
        components: list[tuple[str, Any]] = [
            *((f"captioner {s.label!r}", s.component) for s in job.runner.stages),
            (f"reasoner {job.runner.reasoner.name!r}", job.runner.reasoner),
        ]
        for name, component in components:
            wanted = _resources(component)
            for kind, each in (("CPU", wanted.num_cpus), ("GPU", wanted.num_gpus)):
                have = cluster.get(kind, 0.0)
                if each * wanted.actors > have:
                    setting = "num_cpus" if kind == "CPU" else "num_gpus"
                    raise ConfigError(
                        f"{name}: runtime.ray.actors={wanted.actors} x "
                        f"runtime.ray.{setting}={each:g} needs {each * wanted.actors:g} {kind}s; "
                        f"the Ray cluster has {have:g}. Lower one of them (--set "
                        f"...runtime.ray.{setting}=...) or add nodes to the cluster"
                    )


def _map_kwargs(resources: RayResources, batch_size: int) -> dict[str, Any]:
    return {
        "concurrency": resources.actors,
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
    pools: dict[str, tuple[ComponentSpec, str, list[dict[str, Any]]]] = {}
    wanted: dict[tuple[str, str], list[_Wanted]] = {}
    for index, (job, front) in enumerate(zip(jobs, fronts, strict=True)):
        runner = job.runner
        todo = job.todo
        front.records = {i.id: {} for i in todo}
        if not runner.stages:
            continue
        clipped: list[Clipped] = []
        for item in todo:
            try:
                path = runner.perturbation.audio(item)
            except CascadeError as error:
                front.audio_errors[item.id] = str(error)
                continue
            clipped.append(Clipped(item.id, path, item.question, item.choices))
        hashes, unreadable = hash_clips(clipped, cache)
        counts = job.summary.frontend
        for stage, spec in zip(runner.stages, runner.config.captioners, strict=True):
            misses = look_up_stage(clipped, stage, cache, hashes, unreadable, front.records, counts)
            namespace = f"stages/{stage.component.identity.name}"
            for clip, key in misses:
                need = wanted.setdefault((namespace, key), [])
                need.append(_Wanted(index, clip.item_id, stage.label, key, owner=not need))
                if len(need) == 1:
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
    for spec, label, rows in pools.values():
        component = plan.build("captioner", spec)
        batch_size = jobs[0].runner.config.run.batch_size
        dataset = ray.data.from_items(rows).map_batches(
            StageActor,
            fn_constructor_kwargs={
                "spec": _spec_json(spec),
                "label": label,
                "cache_root": str(cache.root),
            },
            **_map_kwargs(_resources(component), batch_size),
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
            for work, raw, seconds in zip(
                batch["work"], batch["output"], batch["seconds"], strict=True
            ):
                output = StageOutput.from_json(json.loads(raw))
                for need in by_work[work]:
                    front = fronts[need.job]
                    counts = jobs[need.job].summary.frontend
                    mine = replace(output, item_id=need.item_id, stage=need.label)
                    front.records[need.item_id][need.label] = StageRecord(mine, need.key, False)
                    if not output.ok:
                        counts.add(need.label, "failed")
                    else:
                        counts.add(need.label, "computed" if need.owner else "reused")
                    if need.owner:
                        counts.model_seconds += float(seconds)
                        front.seconds += float(seconds)
    batches = []
    for job, front in zip(jobs, fronts, strict=True):
        labels = [s.label for s in job.runner.stages]
        records = {
            item_id: [by_label[label] for label in labels]
            for item_id, by_label in front.records.items()
            if item_id not in front.audio_errors
        }
        for item_id, message in front.audio_errors.items():
            records[item_id] = [
                StageRecord(
                    StageOutput(item_id, s.label, s.component.kind, error=message), None, False
                )
                for s in job.runner.stages
            ]
            for label in labels:
                job.summary.frontend.add(label, "failed")
        per_item = front.seconds / max(len(records), 1)
        batches.append(FrontendBatch(records, per_item, front.audio_errors))
    return batches


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
        if self.reasoner is None:
            raise self.error or CascadeError("the reasoner did not start")
        requests = [ChatRequest.from_json(json.loads(r)) for r in batch["request"]]
        responses = generate_isolated(self.reasoner, requests)
        out = batch.copy()
        out["response"] = [json.dumps(r.to_json()) for r in responses]
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
    asked: list[_Asked] = []
    for index, (job, front) in enumerate(zip(jobs, fronts, strict=True)):
        runner = job.runner
        failed, requests = runner.prepare(job.todo, front, job.pending)
        results = [
            replace(result, sample=sample)
            for item_id, result in failed.items()
            for sample in job.pending[item_id]
        ]
        found, missing = look_up(
            [p.request for p in requests], runner.reasoner, cache, job.summary.reasoner
        )
        results += [answered_result(requests[i], record, front, 0.0) for i, record in found.items()]
        _record(jobs, index, results)
        if not missing:
            continue
        _, rows = pools.setdefault(_pool_key("reasoner", runner.config.reasoner), (job, []))
        for i, request, key in missing:
            rows.append({"asked": len(asked), "request": json.dumps(request.to_json())})
            asked.append(_Asked(index, requests[i], key))
    ray = _ray()
    for owner, rows in pools.values():
        reasoner = owner.runner.reasoner
        dataset = _reasoner_stage(
            ray.data.from_items(rows),
            owner,
            batch_size=owner.runner.config.run.batch_size,
            gpus=gpus,
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="pandas"):
            block: dict[int, list[ItemResult]] = {}
            for number, raw in zip(batch["asked"], batch["response"], strict=True):
                one = asked[int(number)]
                job = jobs[one.job]
                if job.stopped is not None:
                    continue
                response = ReasonerResponse.from_json(json.loads(raw))
                job.summary.reasoner.model_seconds += response.latency_s
                record = settle(
                    one.pending.request, one.key, response, reasoner, cache, job.summary.reasoner
                )
                result = answered_result(
                    one.pending, record, fronts[one.job], time.perf_counter() - started
                )
                block.setdefault(one.job, []).append(result)
            for index, results in block.items():
                _record(jobs, index, results)


def _record(jobs: Sequence[Job], index: int, results: list[ItemResult]) -> None:
    """Write a job's results; past its failure-rate limit a lone run stops, a sweep's
    variation is set aside and the others go on."""
    job = jobs[index]
    try:
        job.record(results)
    except FailureRateExceeded as error:
        if len(jobs) == 1:
            raise
        job.stopped = error


def _reasoner_stage(dataset: Dataset, owner: Job, *, batch_size: int, gpus: bool) -> Dataset:
    reasoner = owner.runner.reasoner
    resources = _resources(reasoner)
    processor = getattr(reasoner, "ray_processor", None)
    if gpus and processor is not None:
        result: Dataset = processor(resources, resources.batch_size or batch_size)(dataset)
        return result
    return dataset.map_batches(
        ReasonerActor,
        fn_constructor_kwargs={"spec": _spec_json(owner.runner.config.reasoner)},
        **_map_kwargs(resources, batch_size),
    )
