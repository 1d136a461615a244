"""A model's tool calls read from its generated text by vLLM's own parser for the model's format
(`vllm.tool_parsers`: `hermes` for Qwen2.5 and Qwen3, `llama3_json`, `pythonic`, ...), as vLLM's
OpenAI-compatible server reads them, for the offline engine that has no server to do it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cascade.core import ChatRequest, ComponentError, ToolCall, require

from .responses import chat_messages


@dataclass(frozen=True)
class ParsedTurn:
    """A generation split into its text (what the model said besides the calls) and its calls."""

    text: str
    calls: tuple[ToolCall, ...]


def parser_names() -> Sequence[str]:
    """The tool-call parsers this vLLM ships."""
    vllm_parsers = require("vllm.tool_parsers", component="reasoner 'vllm'", extra="vllm")
    return list(vllm_parsers.ToolParserManager.list_registered())


def parse_tool_calls(name: str, tokenizer: Any, text: str, request: ChatRequest) -> ParsedTurn:
    """The calls in `text` as the parser `name` reads them (with the model's tokenizer).

    Raises:
        ComponentError: no parser of that name in this vLLM (the message lists them).
    """
    vllm_parsers = require("vllm.tool_parsers", component="reasoner 'vllm'", extra="vllm")
    protocol = require(
        "vllm.entrypoints.openai.chat_completion.protocol",
        component="reasoner 'vllm'",
        extra="vllm",
    )
    try:
        parser_class = vllm_parsers.ToolParserManager.get_tool_parser(name)
    except KeyError:
        known = ", ".join(parser_names())
        raise ComponentError(
            f"reasoner 'vllm': config.tool_parser={name!r} is not a tool-call parser of this "
            f"vLLM; it has: {known}"
        ) from None
    chat = protocol.ChatCompletionRequest(
        model="cascade", messages=chat_messages(request), tools=[dict(t) for t in request.tools]
    )
    parser = parser_class(tokenizer)
    info = parser.extract_tool_calls(text, chat)
    if not info.tools_called:
        return ParsedTurn(text, ())
    calls = tuple(
        ToolCall(str(call.id or ""), call.function.name, call.function.arguments)
        for call in info.tool_calls
    )
    return ParsedTurn(info.content or "", calls)
