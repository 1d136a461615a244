"""Thinking traces are split from final answers on recorded-format outputs (see tests/data)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cascade.reasoners.responses import build_response
from cascade.reasoners.thinking import opens_thinking, split_generation, split_thinking

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "reasoners" / "thinking_cases.yaml").read_text()
)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_recorded_output_is_split(case: dict[str, Any]) -> None:
    if case.get("reasoning_content") is not None:
        split = split_thinking(case["text"], case["reasoning_content"])
    else:
        split = split_generation(
            case["text"], prompt_opens_thinking=case.get("prompt_opens_thinking", False)
        )
    assert split.answer == case["answer"]
    assert split.closed is case["closed"]
    if "reasoning" in case:
        assert split.reasoning == case["reasoning"]
    for part in case.get("reasoning_contains", []):
        assert part in split.reasoning
    assert "<think>" not in split.answer + split.reasoning
    assert "</think>" not in split.answer + split.reasoning


def test_the_final_answer_line_never_comes_from_the_trace() -> None:
    case = next(c for c in CASES if c["id"] == "trace-mentions-other-answers")
    split = split_thinking(case["text"])
    assert "ANSWER: A" not in split.answer and "ANSWER: A" in split.reasoning


def test_truncated_inside_the_trace_is_a_length_stop_with_no_answer() -> None:
    case = next(c for c in CASES if c["id"] == "r1-distill-truncated-inside-trace")
    response = build_response(
        case["text"], raw_finish_reason="length", prompt_opens_thinking=True, completion_tokens=80
    )
    assert response.ok and response.truncated
    assert response.text == "" and response.reasoning.startswith("Alright")


def test_without_knowing_the_template_opened_it_a_cut_trace_would_look_like_an_answer() -> None:
    # Why the back-ends pass prompt_opens_thinking: the same text, split blind, is all "answer".
    case = next(c for c in CASES if c["id"] == "r1-distill-truncated-inside-trace")
    assert split_thinking(case["text"]).answer == case["text"].strip()


@pytest.mark.parametrize(
    ("prompt", "opens"),
    [
        ("<|User|>Which one?<|Assistant|><think>\n", True),  # R1 distill template
        ("<|im_start|>assistant\n<think>\n\n</think>\n\n", False),  # Qwen3, enable_thinking off
        ("<|im_start|>assistant\n", False),
        ("<think>old</think> user text <|im_start|>assistant\n<think>\n", True),
    ],
)
def test_prompt_that_opens_thinking_is_recognised(prompt: str, opens: bool) -> None:
    assert opens_thinking(prompt) is opens


@pytest.mark.parametrize(
    ("raw", "mapped"),
    [("stop", "stop"), ("length", "length"), (None, "unknown"), ("content_filter", "unknown")],
)
def test_finish_reasons_are_mapped(raw: str | None, mapped: str) -> None:
    assert build_response("ANSWER: A", raw_finish_reason=raw).finish_reason == mapped
