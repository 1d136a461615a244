"""The `vllm` reasoner's options, checked without building an engine (see test_reasoner_vllm.py
for the real thing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cascade.reasoners.vllm_memory import (
    WORKER_OVERHEAD_BYTES,
    GiB,
    ModelMemory,
    NodeMemory,
    explain_memory_failure,
    size_kv_cache,
)
from cascade.reasoners.vllm_offline import VllmReasoner, VllmRuntime
from pydantic import ValidationError

from cascade.core import ChatMessage, ChatRequest, ComponentError, logs
from cascade.run import config as configs


def test_runtime_options_reach_the_engine_and_stay_out_of_the_cache_key() -> None:
    config = {"model": "Qwen/Qwen3-8B", "chat_template_kwargs": {"enable_thinking": False}}
    runtime = {
        "tensor_parallel_size": 2,
        "dtype": "bfloat16",
        "gpu_memory_utilization": 0.85,
        "max_model_len": 20480,
        "enforce_eager": True,
        "engine_kwargs": {"max_num_batched_tokens": 8192},
    }
    reasoner = VllmReasoner(config, runtime)
    assert reasoner._engine_options() == {
        "model": "Qwen/Qwen3-8B",
        "tensor_parallel_size": 2,
        "dtype": "bfloat16",
        "enforce_eager": True,
        "trust_remote_code": False,
        "seed": 0,
        "gpu_memory_utilization": 0.85,
        "max_model_len": 20480,
        "max_num_batched_tokens": 8192,
    }
    # The weights' dtype changes answers (see test_identities.py); the engine's sizing does not.
    assert reasoner.identity.digest == VllmReasoner(config, {"dtype": "bfloat16"}).identity.digest
    assert reasoner.identity.digest != VllmReasoner({**config, "max_tokens": 10}).identity.digest


def test_each_sample_of_an_item_gets_its_own_seed() -> None:
    reasoner = VllmReasoner({"temperature": 0.6, "top_p": 0.95, "max_tokens": 99, "seed": 7})
    recorder = SimpleNamespace(SamplingParams=dict)
    messages = (ChatMessage("user", "q"),)
    first = reasoner._sampling(recorder, ChatRequest("a", messages, sample_index=0))
    third = reasoner._sampling(recorder, ChatRequest("a", messages, sample_index=2))
    assert first == {"temperature": 0.6, "top_p": 0.95, "max_tokens": 99, "seed": 7}
    assert third["seed"] == 9
    with_top_k = VllmReasoner({"top_k": 20})._sampling(recorder, ChatRequest("a", messages))
    assert with_top_k["top_k"] == 20


def test_data_parallel_in_one_process_is_refused_with_the_way_out() -> None:
    with pytest.raises(ValidationError, match="--data-parallel-size N"):
        VllmRuntime(data_parallel_size=2)


def test_unknown_options_are_errors() -> None:
    with pytest.raises(ValidationError):
        VllmReasoner({"model": "m", "temprature": 0.5})


# --- memory: the KV cache is sized in bytes, checked against the NUMA node before start-up ---

SMALL_NODE = NodeMemory(node=0, total_bytes=int(8.5 * GiB), available_bytes=4 * GiB)
"""A machine of the project's kind as one of them reported itself: an 8.5 GiB NUMA node (while
`free` showed 23 GiB), 4 GiB of it available."""


def smollm2_folder(root: Path) -> Path:
    """A model folder with SmolLM2-135M-Instruct's shape and a weights file of its size."""
    root.mkdir()
    shape = {
        "num_hidden_layers": 30,
        "num_attention_heads": 9,
        "num_key_value_heads": 3,
        "hidden_size": 576,
        "max_position_embeddings": 8192,
        "torch_dtype": "float32",
    }
    (root / "config.json").write_text(json.dumps(shape))
    with (root / "model.safetensors").open("wb") as f:
        f.truncate(538_090_408)  # sparse: the size counts, not the content
    return root


def embedded_default_options() -> dict[str, object]:
    spec = configs.resolve("default").reasoner
    assert spec.name == "vllm"
    return VllmReasoner(spec.config, spec.runtime)._engine_options()


def test_a_token_of_smollm2_context_costs_45_kib_of_kv_cache(tmp_path: Path) -> None:
    model = ModelMemory.of_folder(smollm2_folder(tmp_path / "m"))
    assert model is not None
    assert model.kv_bytes_per_token == 30 * 3 * 64 * 2 * 4 == 46_080
    assert model.kv_bytes(4096) == 180 * 2**20
    assert model.max_model_len == 8192
    in_bf16 = ModelMemory.of_folder(tmp_path / "m", "bfloat16")
    assert in_bf16 is not None and in_bf16.kv_bytes_per_token == 23_040


def test_the_embedded_default_sizes_its_kv_cache_in_bytes_and_fits_a_small_node(
    tmp_path: Path,
) -> None:
    options = embedded_default_options()
    assert options["kv_cache_memory_bytes"] == GiB
    assert "gpu_memory_utilization" not in options  # a share of the node is no default
    model = ModelMemory.of_folder(smollm2_folder(tmp_path / "m"), "float32")
    assert model is not None
    sizing = size_kv_cache(
        node=SMALL_NODE,
        model=model,
        max_model_len=int(options["max_model_len"]),  # type: ignore[call-overload]
        kv_cache_bytes=options.get("kv_cache_memory_bytes"),  # type: ignore[arg-type]
        memory_fraction=options.get("gpu_memory_utilization"),  # type: ignore[arg-type]
        environ={},
    )
    assert sizing.problem is None
    assert sizing.kv_bytes == GiB and sizing.tokens == 23_301
    assert sizing.kv_bytes >= 5 * sizing.needed_bytes  # five requests of max_model_len
    # The engine, all told, leaves room on a machine with 4 GiB free.
    assert model.weights_bytes + WORKER_OVERHEAD_BYTES + sizing.kv_bytes < 3 * GiB


def test_a_fraction_of_a_small_node_is_refused_with_the_setting_in_bytes(tmp_path: Path) -> None:
    """The old preset (0.2 of the node): 1.7 GiB, all of it held by the weights and runtime."""
    model = ModelMemory.of_folder(smollm2_folder(tmp_path / "m"))
    assert model is not None
    sizing = size_kv_cache(
        node=SMALL_NODE,
        model=model,
        max_model_len=4096,
        kv_cache_bytes=None,
        memory_fraction=0.2,
        environ={},
    )
    assert sizing.kv_bytes < sizing.needed_bytes
    assert sizing.problem is not None
    assert "gives the engine 1.70 GiB (0.2 of NUMA node 0's 8.50 GiB)" in sizing.problem
    assert "set runtime.kv_cache_bytes (e.g. 1GiB)" in sizing.problem
    # vLLM's default fraction asks for more than is available: refused, same way out.
    default = size_kv_cache(
        node=SMALL_NODE,
        model=model,
        max_model_len=4096,
        kv_cache_bytes=None,
        memory_fraction=None,
        environ={},
    )
    assert default.problem is not None and "only 4.00 GiB are available" in default.problem
    assert "set runtime.kv_cache_bytes" in default.problem


@pytest.mark.parametrize(
    ("kv_cache_bytes", "environ", "expected"),
    [
        (
            100 * 2**20,
            {},
            "too small: one request of max_model_len 4096 needs 0.18 GiB. Raise "
            "runtime.kv_cache_bytes to at least 180MiB or lower runtime.max_model_len",
        ),
        (
            6 * GiB,
            {},
            "do not fit: NUMA node 0 has 4.00 GiB available (of 8.50 GiB). Lower "
            "runtime.kv_cache_bytes",
        ),
        (
            GiB,
            {"VLLM_CPU_KVCACHE_SPACE": "8"},
            "the KV cache of 8.00 GiB (VLLM_CPU_KVCACHE_SPACE=8) and the weights",
        ),
    ],
    ids=["too-small-for-one-request", "larger-than-the-node-has", "environment-overrides"],
)
def test_a_kv_cache_in_bytes_that_cannot_work_is_refused_before_start_up(
    tmp_path: Path, kv_cache_bytes: int, environ: dict[str, str], expected: str
) -> None:
    model = ModelMemory.of_folder(smollm2_folder(tmp_path / "m"))
    assert model is not None
    sizing = size_kv_cache(
        node=SMALL_NODE,
        model=model,
        max_model_len=4096,
        kv_cache_bytes=kv_cache_bytes,
        memory_fraction=None,
        environ=environ,
    )
    assert sizing.problem is not None and expected in sizing.problem


# vLLM 0.32's own messages (vllm/v1/worker/cpu_worker.py, vllm/v1/core/kv_cache_utils.py).
VLLM_FAILURES = {
    "fraction-used-up": (
        "ValueError: Available memory on node 0 (6.42/8.46 GiB) on kv cache allocation is less "
        "than requested memory for kv (0.02/1.69 GiB). Reduce CPU memory used by other processes.",
        None,
        "the loaded model already held it, leaving 0.02 GiB for the KV cache. Set "
        "runtime.kv_cache_bytes (e.g. 1GiB)",
    ),
    "bytes-too-many": (
        "ValueError: Available memory on node 0 (3.10/8.46 GiB) on kv cache allocation is less "
        "than requested memory for kv (4.00 GiB). Decrease --kv-cache-memory-bytes, "
        "VLLM_CPU_KVCACHE_SPACE, or reduce CPU memory used by other processes.",
        "runtime.kv_cache_bytes=4.00 GiB",
        "it asks for 4.00 GiB (runtime.kv_cache_bytes=4.00 GiB), but NUMA node 0 had 3.10 GiB "
        "available (of 8.46 GiB) once the model was loaded. Lower runtime.kv_cache_bytes below "
        "3.10 GiB",
    ),
    "fraction-above-available": (
        "ValueError: Available memory on node 0 (3.00/8.46 GiB) on startup is less than desired "
        "CPU memory utilization (0.92, 7.78 GiB). On the CPU backend, the "
        "`--gpu-memory-utilization` flag controls the fraction of CPU memory reserved",
        None,
        "runtime.gpu_memory_utilization=0.92 asks for 7.78 GiB of NUMA node 0's 8.46 GiB, but "
        "only 3.00 GiB are available",
    ),
    "too-small-for-max-len": (
        "ValueError: To serve at least one request with the model's max seq len (4096), (0.18 "
        "GiB KV cache is needed, which is larger than the available KV cache memory (0.10 GiB). "
        "Try increasing `gpu_memory_utilization`",
        "runtime.kv_cache_bytes=0.10 GiB",
        "one request of max_model_len 4096 needs 0.18 GiB and the engine got 0.10 GiB. Raise "
        "runtime.kv_cache_bytes to at least 0.18 GiB, or lower runtime.max_model_len",
    ),
}


@pytest.mark.parametrize("case", list(VLLM_FAILURES), ids=list(VLLM_FAILURES))
def test_vllm_memory_failures_are_explained_with_the_setting_to_change(case: str) -> None:
    text, kv_source, expected = VLLM_FAILURES[case]
    explained = explain_memory_failure(text, kv_source=kv_source)
    assert explained is not None and expected in explained
    assert "decrease" not in explained.lower()  # vLLM's advice for a fraction points the wrong way


def test_an_engine_that_cannot_start_says_the_cause_from_its_process_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """vLLM's engine core fails in a child process, which prints the cause; the main process
    only raises "Engine core initialization failed. See root cause above"."""
    cause = VLLM_FAILURES["fraction-used-up"][0]

    def failing_engine(**options: object) -> None:
        printed = ("Traceback (most recent call last):\n" + cause + "\n").encode()
        script = f"import os; os.write(2, {printed!r})"
        subprocess.run([sys.executable, "-c", script], check=True)
        raise RuntimeError("Engine core initialization failed. See root cause above.")

    fake = SimpleNamespace(__name__="fake_vllm", LLM=failing_engine)
    monkeypatch.setattr("cascade.reasoners.vllm_offline.require", lambda *a, **k: fake)
    log = tmp_path / "cascade.log"
    reasoner = VllmReasoner({"model": "some/model"}, {"gpu_memory_utilization": 0.2})
    with logs.capture(log), pytest.raises(ComponentError) as raised:
        reasoner.load()
    message = str(raised.value)
    assert message.startswith("reasoner 'vllm' could not start its engine for 'some/model': ")
    assert "Set runtime.kv_cache_bytes (e.g. 1GiB)" in message
    assert f"vLLM's full output is in {log}" in message
    assert cause in log.read_text()


def test_one_engine_per_process_held_by_the_model_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reasoners with the same engine options share one engine; one with other options shuts the
    held engine down before building its own. The engine lives in the one cache of loaded models
    (`load_once`, in its slot), so freeing the slot is what `shutdown_engine` does."""
    from cascade.reasoners.vllm_offline import ENGINE_SLOT, shutdown_engine

    from cascade.core import free_slot

    events: list[str] = []

    class Engine:
        def __init__(self, **options: Any) -> None:
            self.model = str(options["model"])
            self.llm_engine = SimpleNamespace(shutdown=lambda: events.append(f"stop {self.model}"))
            events.append(f"start {self.model}")

    fake = SimpleNamespace(__name__="fake_vllm", LLM=Engine)
    monkeypatch.setattr("cascade.reasoners.vllm_offline.require", lambda *a, **k: fake)
    runtime = {"gpu_memory_utilization": 0.2}
    try:
        first = VllmReasoner({"model": "some/a"}, runtime).load()
        again = VllmReasoner({"model": "some/a"}, runtime).load()
        assert again is first
        VllmReasoner({"model": "some/b"}, runtime).load()
        free_slot(ENGINE_SLOT)
        assert events == ["start some/a", "stop some/a", "start some/b", "stop some/b"]
    finally:
        shutdown_engine()
