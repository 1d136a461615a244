"""The `vllm` reasoner's options, checked without building an engine (see test_reasoner_vllm.py
for the real thing)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from cascade.records import ChatMessage, ChatRequest
from reasoners.vllm_offline import VllmReasoner, VllmRuntime


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
