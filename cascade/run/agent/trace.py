"""An agent's trace: the readable form that is the item's reasoning (`thinking_prediction`,
within MMAR's 10,000-character limit), and the summary of the traces of a run.

The results keep every step whole (`results.jsonl`, field `agent`); the readable form
abbreviates long tool outputs first, then the model's own turns, until it fits.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

THINKING_LIMIT = 10_000
"""MMAR's limit on `thinking_prediction`, in characters."""

OUTCOMES = ("answer", "budget", "context", "length")
"""How an agent's item ends: an answer (scored as any answer), the step budget spent while still
calling tools, a conversation past the model's context, an answer cut at the token limit (the
last three are INVALID, never guessed)."""

_CUTS = (None, 1500, 600, 200, 60)
"""Tool outputs are cut to these lengths in turn until the trace fits."""
_TEXT_CUTS = (None, 1500, 400)


def _cut(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return f"{text[:limit].rstrip()} [... {len(text) - limit} more characters in results.jsonl]"


def _render(
    steps: Sequence[Mapping[str, Any]], output_cut: int | None, text_cut: int | None
) -> str:
    parts = []
    for step in steps:
        lines = [f"Step {step['step']}:"]
        if step.get("reasoning"):
            lines.append(_cut(str(step["reasoning"]), text_cut))
        if step.get("text"):
            lines.append(_cut(str(step["text"]), text_cut))
        for call in step.get("calls", ()):
            lines.append(f"-> {call['name']} {call['arguments'] or '{}'}")
            lines.append(_cut(str(call["output"]), output_cut))
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def readable(steps: Sequence[Mapping[str, Any]], outcome: str, limit: int = THINKING_LIMIT) -> str:
    """The trace as text within `limit` characters: each step's reasoning, text, calls and
    their outputs, and how it ended when it did not end in an answer."""
    ending = "" if outcome == "answer" else f"\n\n(ended without an answer: {outcome})"
    for text_cut in _TEXT_CUTS:
        for output_cut in _CUTS:
            text = _render(steps, output_cut, text_cut) + ending
            if len(text) <= limit:
                return text
    marker = " [... cut at the 10,000-character limit]"
    return text[: limit - len(marker) - len(ending)] + marker + ending


def summarise(traces: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A run's agent figures from its items' traces: tool calls per item (mean, max), the share
    of items that called each tool, outcomes, zero-call and repeated-call counts, tokens."""
    items = 0
    calls: list[int] = []
    by_tool: dict[str, int] = {}
    outcomes = dict.fromkeys(OUTCOMES, 0)
    zero = repeated_items = repeated_calls = steps = 0
    tokens = {"prompt": 0, "completion": 0}
    for trace in traces:
        items += 1
        made = [c for s in trace.get("steps", ()) for c in s.get("calls", ())]
        calls.append(len(made))
        steps += len(trace.get("steps", ()))
        for name in {c["name"] for c in made if c.get("key") is not None}:  # reached a tool
            by_tool[name] = by_tool.get(name, 0) + 1
        outcome = str(trace.get("outcome"))
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        zero += not made
        again = sum(c.get("repeated_from") is not None for c in made)
        repeated_calls += again
        repeated_items += bool(again)
        for s in trace.get("steps", ()):
            tokens["prompt"] += s.get("prompt_tokens") or 0
            tokens["completion"] += s.get("completion_tokens") or 0
    return {
        "items": items,
        "steps": steps,
        "tool_calls": sum(calls),
        "calls_per_item": {
            "mean": round(sum(calls) / items, 3) if items else 0.0,
            "max": max(calls, default=0),
        },
        "items_calling": {
            name: {"items": n, "share": round(n / items, 4)} for name, n in sorted(by_tool.items())
        },
        "outcomes": outcomes,
        "zero_calls": zero,
        "repeated_calls": repeated_calls,
        "items_repeating": repeated_items,
        "tokens": tokens,
    }


def agent_sentence(agent: Mapping[str, Any]) -> str:
    """The console's line on an agent run: calls computed and re-used, calls per item, the
    share of items calling each tool, and the outcomes that are not answers."""
    calls, per_item = agent["calls"], agent["calls_per_item"]
    shares = ", ".join(
        f"{name} {100 * v['share']:.0f}%" for name, v in agent["items_calling"].items()
    )
    outcomes = agent["outcomes"]
    return (
        f"agent: tool calls computed {calls['computed']}, re-used {calls['reused']}, failed "
        f"{calls['failed']}; per item mean {per_item['mean']:.2f}, max {per_item['max']}; items "
        f"calling {shares or 'no tool'}; without a tool call {agent['zero_calls']}; repeated "
        f"calls {agent['repeated_calls']}; ended by the step budget {outcomes['budget']}, the "
        f"context {outcomes['context']}, the token limit {outcomes['length']}; tokens "
        f"{agent['tokens']['prompt']} in, {agent['tokens']['completion']} out"
    )
