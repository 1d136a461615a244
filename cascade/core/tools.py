"""Front-end components as the tools of an agent run: the schema the model reads for each kind
of component, and the checking of the arguments a model writes.

ASR transcribes a time window, a tagger tags one, signal analysis measures one, and an audio
model that takes a question (a question-conditioned captioner) answers a free-form question,
optionally about a window. Every tool takes an optional window (`start_s`, `end_s`, seconds from
the clip's start); the model is told the clip's duration. These schemas are part of an agent
run's fingerprint (`SCHEMA_VERSION` changes when their wording or shape does).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cascade.core.records import StageKind

SCHEMA_VERSION = 1
"""Bumped whenever a tool's wording or arguments change (the fingerprint of agent runs covers
it, so that runs with other tool texts never share a run directory)."""

WINDOW_DECIMALS = 2
"""Window times are rounded to 0.01 s before they enter a cache key or reach a component."""


@dataclass(frozen=True)
class ToolKind:
    """What one kind of component offers as a tool: its default name and what it does."""

    name: str
    does: str


KINDS: dict[tuple[StageKind, bool], ToolKind] = {
    ("asr", False): ToolKind(
        "transcribe", "Transcribe the speech in the clip, or in a time window of it."
    ),
    ("tags", False): ToolKind(
        "tag_sounds",
        "List the sound events, music genres and instruments heard in the clip, or in a time "
        "window of it, with their confidence.",
    ),
    ("signal", False): ToolKind(
        "measure_signal",
        "Measure the clip, or a time window of it: loudness over time, pauses, onsets and "
        "their rate, tempo, the strongest pitch, speech and music time ranges.",
    ),
    ("caption", False): ToolKind(
        "describe_audio", "Describe in words what the clip, or a time window of it, sounds like."
    ),
    ("caption", True): ToolKind(
        "ask_audio",
        "Ask an audio-language model that hears the clip (or a time window of it) a free-form "
        "question about it; it answers in words, and can be wrong.",
    ),
}


class ToolArgumentError(ValueError):
    """Arguments a model wrote that a tool cannot take; the message is shown to the model."""


@dataclass(frozen=True)
class ToolSchema:
    """One tool as the model reads it."""

    name: str
    description: str
    asks: bool
    """It takes a `question` (a question-conditioned audio model)."""

    def parameters(self) -> dict[str, Any]:
        """The JSON schema of its arguments."""
        properties: dict[str, Any] = {}
        required: list[str] = []
        if self.asks:
            properties["question"] = {
                "type": "string",
                "description": "The question to ask about the audio.",
            }
            required.append("question")
        properties["start_s"] = {
            "type": "number",
            "description": "Start of the time window in seconds (default: 0).",
        }
        properties["end_s"] = {
            "type": "number",
            "description": "End of the time window in seconds (default: the end of the clip).",
        }
        return {
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": False,
        }

    def to_openai(self) -> dict[str, Any]:
        """The function schema of OpenAI's chat API (and of chat templates that take tools)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters(),
            },
        }

    def to_text(self) -> str:
        """The tool described in plain text (the text action protocol)."""
        example = {"question": "...", "start_s": 0, "end_s": 5} if self.asks else {"start_s": 0}
        args = "question (required), start_s, end_s" if self.asks else "start_s, end_s (optional)"
        return (
            f"- {self.name}: {self.description} Arguments: {args}. "
            f"Example: CALL {self.name} {json.dumps(example)}"
        )


def tool_schema(kind: StageKind, asks: bool, name: str | None = None) -> ToolSchema:
    """The tool a component of `kind` offers (`asks`: it takes a question), under `name` or its
    kind's default name."""
    found = KINDS[(kind, asks and kind == "caption")]
    return ToolSchema(name or found.name, found.does, asks and kind == "caption")


@dataclass(frozen=True)
class ToolArguments:
    """A call's checked arguments: the window (None: the whole clip) and the question."""

    start_s: float | None
    end_s: float | None
    question: str | None


def parse_arguments(schema: ToolSchema, text: str) -> ToolArguments:
    """The arguments of a call from the JSON text the model wrote.

    Raises:
        ToolArgumentError: not a JSON object, an unknown or missing argument, a time that is not
            a finite non-negative number, a window that ends before it starts; the message says
            which, for the model to read.
    """
    try:
        raw = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as error:
        raise ToolArgumentError(f"the arguments are not valid JSON ({error.msg})") from None
    if not isinstance(raw, Mapping):
        raise ToolArgumentError("the arguments must be a JSON object")
    known = set(schema.parameters()["properties"])
    if unknown := sorted(set(raw) - known):
        raise ToolArgumentError(
            f"unknown argument(s) {unknown}; {schema.name} takes {sorted(known)}"
        )
    times = {k: _time(k, raw.get(k)) for k in ("start_s", "end_s")}
    question = raw.get("question")
    if schema.asks and (not isinstance(question, str) or not question.strip()):
        raise ToolArgumentError(f"{schema.name} needs a `question` (a non-empty string)")
    start, end = times["start_s"], times["end_s"]
    if start is not None and end is not None and end <= start:
        raise ToolArgumentError(f"the window ends ({end} s) before it starts ({start} s)")
    return ToolArguments(start, end, question.strip() if isinstance(question, str) else None)


def _time(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ToolArgumentError(f"`{name}` must be a number of seconds, got {value!r}")
    if value < 0:
        raise ToolArgumentError(f"`{name}` must not be negative, got {value}")
    return round(float(value), WINDOW_DECIMALS)
