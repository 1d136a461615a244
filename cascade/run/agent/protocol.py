"""How an agent run's reasoner calls tools and reads their results: natively (the server's or
the model's own tool calls, `ReasonerResponse.tool_calls`) or by the text action protocol, for
models without tool calling (the tools described in the prompt, a call written on its own line
as `CALL <tool> <JSON arguments>`, the results sent back as the next user message).

Either way a turn that calls no tool is the final answer, which goes through the same
extraction and scorers as a one-way run's.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from cascade.core import ChatMessage, ReasonerResponse, ToolCall, ToolSchema

Protocol = Literal["native", "text"]

_CALL_LINE = re.compile(r"^[ \t>*`-]*CALL[ \t]+([A-Za-z_][\w.-]*)[ \t]*(.*?)[ \t`]*$", re.MULTILINE)
"""A text-protocol call: `CALL name {...}` on its own line (list or quote marks before it, and
code ticks around it, tolerated)."""


def describe_tools(schemas: Sequence[ToolSchema]) -> str:
    """The tools as the text protocol's prompt lists them."""
    return "\n".join(s.to_text() for s in schemas)


def calls_of(response: ReasonerResponse, protocol: Protocol, step: int) -> list[ToolCall]:
    """The tool calls of one turn: the response's own (native), or its CALL lines (text), each
    with an id unique in the conversation."""
    if protocol == "native":
        # Ids of our own: a server's are random, and the next request (its cache key) holds them.
        return [
            ToolCall(f"s{step}c{n}", c.name, c.arguments)
            for n, c in enumerate(response.tool_calls, 1)
        ]
    return [
        ToolCall(f"s{step}c{n}", m.group(1), m.group(2).strip())
        for n, m in enumerate(_CALL_LINE.finditer(response.text), 1)
    ]


def turn_messages(
    response: ReasonerResponse,
    calls: Sequence[ToolCall],
    outputs: Sequence[str],
    protocol: Protocol,
    steps_left: int,
) -> list[ChatMessage]:
    """What the conversation gains from a turn that called tools: the model's turn, then the
    tools' results (one `tool` message per call natively; one user message in text)."""
    if protocol == "native":
        return [
            ChatMessage("assistant", response.text, tool_calls=tuple(calls)),
            *(
                ChatMessage("tool", output, tool_call_id=call.id)
                for call, output in zip(calls, outputs, strict=True)
            ),
        ]
    results = "\n\n".join(
        f"[{n}] CALL {call.name} {call.arguments}\n{output}"
        for n, (call, output) in enumerate(zip(calls, outputs, strict=True), 1)
    )
    left = (
        f"You have {steps_left} turns left."
        if steps_left > 1
        else "This is your last turn: answer now, without CALL lines."
    )
    return [
        ChatMessage("assistant", response.text),
        ChatMessage("user", f"Results of your tool calls:\n\n{results}\n\n{left}"),
    ]
