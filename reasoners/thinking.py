"""Separate a reasoning model's thinking trace from its final answer.

Reasoning models give their trace in one of two ways: inside `<think>…</think>` in the generated
text (DeepSeek-R1 and its distills, Qwen3 in thinking mode, QwQ), or in a separate
`reasoning_content` field of the server's message (DeepSeek's API, vLLM with a reasoning parser).
Only the final answer may reach answer extraction: a trace mentions every option before it decides.

An opened `<think>` that is never closed means the generation stopped while thinking: there is no
final answer at all, and the split says so (`closed=False`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPEN = "<think>"
CLOSE = "</think>"
_OPEN_RE = re.compile(r"<think>", re.IGNORECASE)
_CLOSE_RE = re.compile(r"</think>", re.IGNORECASE)


@dataclass(frozen=True)
class Split:
    """A generation split into its thinking trace and its final answer."""

    answer: str
    """The final answer: the text after the last `</think>`; empty when thinking never ended."""
    reasoning: str
    """The thinking trace (every `<think>` block, joined), without the tags."""
    closed: bool = True
    """False when a `<think>` was opened and never closed: generation stopped inside the trace."""


def split_thinking(text: str, reasoning_content: str | None = None) -> Split:
    """Split one generation into trace and answer.

    Args:
        text: The generated text (a chat message's `content`).
        reasoning_content: The server's separate trace field, when it has one. When given, it is
            the trace; `<think>` blocks still left in `text` (a server whose parser missed them)
            are split off as well and appended to it.

    Returns:
        The split. Text before a `<think>` is kept in the answer only if there is no closing tag
        after it; a model that writes `</think>` without an opening tag (R1 distills whose chat
        template already opened the block in the prompt) has everything before it as trace.
    """
    traces = [reasoning_content.strip()] if reasoning_content and reasoning_content.strip() else []
    closes = list(_CLOSE_RE.finditer(text))
    if closes:
        last = closes[-1]
        head, answer = text[: last.start()], text[last.end() :]
        traces.append(_strip_tags(head))
        return Split(answer=answer.strip(), reasoning=_join(traces))
    opened = _OPEN_RE.search(text)
    if opened:
        traces.append(_strip_tags(text[opened.end() :]))
        return Split(answer="", reasoning=_join(traces), closed=False)
    return Split(answer=text.strip(), reasoning=_join(traces))


def opens_thinking(prompt: str) -> bool:
    """True when a rendered prompt ends inside an open `<think>` block (the template opened it).

    Chat templates of DeepSeek-R1 distills and of Qwen3 with thinking forced end the prompt with
    `<think>\\n`; the generation then has a `</think>` but no `<think>`, and a generation cut
    before `</think>` is all trace.
    """
    tail = prompt.rstrip()
    last_open = tail.lower().rfind(OPEN)
    return last_open >= 0 and tail.lower().rfind(CLOSE) < last_open


def split_generation(text: str, *, prompt_opens_thinking: bool = False) -> Split:
    """Split a local generation, knowing whether the prompt itself opened a `<think>` block."""
    if prompt_opens_thinking and not _OPEN_RE.search(text):
        text = OPEN + text
    return split_thinking(text)


def _strip_tags(text: str) -> str:
    """The trace without its tags; separate blocks stay on separate lines."""
    return _CLOSE_RE.sub("\n", _OPEN_RE.sub("\n", text)).strip()


def _join(traces: list[str]) -> str:
    return "\n\n".join(t for t in traces if t)
