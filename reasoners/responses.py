"""Turn a back-end's raw generation into a ReasonerResponse, the same way for every back-end."""

from __future__ import annotations

from typing import Any

from cascade.core import ChatRequest, FinishReason, ReasonerResponse

from .thinking import split_generation, split_thinking

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "eos": "stop",
    "length": "length",
    "tool_calls": "stop",  # a turn that called tools ended as the model meant it to
}


def chat_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """A request's messages as OpenAI-style dicts (what chat templates and servers take), an
    agent's tool calls and tool results included."""
    found: list[dict[str, Any]] = []
    for m in request.messages:
        message: dict[str, Any] = {"role": m.role, "content": m.content}
        if m.tool_calls:
            message["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in m.tool_calls
            ]
        if m.tool_call_id is not None:
            message["tool_call_id"] = m.tool_call_id
        found.append(message)
    return found


def finish_reason(raw: str | None) -> FinishReason:
    """A back-end's stop reason in cascade's terms; anything not understood is `unknown`."""
    return _FINISH.get(raw or "", "unknown")


def build_response(
    text: str,
    *,
    raw_finish_reason: str | None,
    reasoning_content: str | None = None,
    prompt_opens_thinking: bool = False,
    prompt_tokens: int | None = None,
    completion_tokens: int | None = None,
    reasoning_tokens: int | None = None,
    cached_tokens: int | None = None,
    latency_s: float = 0.0,
) -> ReasonerResponse:
    """One response: the trace split off the answer, the stop reason mapped.

    A generation that stopped inside an unclosed `<think>` has no final answer: its text is empty
    and its trace kept; with a length stop it is flagged as truncated like any other.
    """
    if reasoning_content is not None or not prompt_opens_thinking:
        split = split_thinking(text, reasoning_content)
    else:
        split = split_generation(text, prompt_opens_thinking=True)
    return ReasonerResponse(
        text=split.answer,
        reasoning=split.reasoning,
        finish_reason=finish_reason(raw_finish_reason),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        reasoning_tokens=reasoning_tokens,
        cached_tokens=cached_tokens,
        latency_s=latency_s,
    )


def seed_for(seed: int | None, request: ChatRequest) -> int | None:
    """The sampling seed of one request: repeated samples of an item must differ."""
    return None if seed is None else seed + request.sample_index
