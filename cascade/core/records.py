"""The plain, serialisable records that flow between the stages of a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from cascade.core.audio import Clip

StageKind = Literal["asr", "caption", "tags", "signal"]
"""What a front-end stage contributes to the description."""

FinishReason = Literal["stop", "length", "error", "unknown"]


@dataclass(frozen=True)
class Item:
    """One benchmark question about one audio clip.

    `meta` keeps every field of the original record, so that predictions can be written back in
    the benchmark's own format.
    """

    id: str
    benchmark: str
    audio_path: str
    """The path as written in the benchmark's metadata (relative to the audio root)."""
    audio: Path | None
    """The resolved clip on disk; None when the run skips missing audio."""
    question: str
    choices: tuple[str, ...]
    answer: str
    modality: str
    category: str
    sub_category: str
    language: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def answer_index(self) -> int:
        return self.choices.index(self.answer)

    @property
    def groups(self) -> dict[str, str]:
        """The group each statistic is broken down by, e.g. {"modality": "speech", ...}."""
        return {
            "modality": self.modality,
            "category": self.category,
            "sub-category": self.sub_category,
            "language": self.language or "none",
        }


@dataclass(frozen=True)
class StageInput:
    """What a front-end component receives for one item.

    `clip` is decoded once per item by the pipeline and shared by every stage; a component
    that conditions on the question reads `question` and `choices`.
    """

    item_id: str
    clip: Clip
    question: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageOutput:
    """What one front-end component heard in one clip.

    `text` is what goes into the description; `data` is the structured result (segments, tag
    scores, measurements) for reports and ablations. A non-empty `error` means the component
    failed on this item: `text` is then empty and the output is never cached.
    """

    item_id: str
    stage: str
    kind: StageKind
    text: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> StageOutput:
        return cls(**{k: raw[k] for k in _fields(cls) if k in raw})


@dataclass(frozen=True)
class ToolCall:
    """A tool call the model made: its id (the server's, or the step and position), the tool's
    name and the arguments exactly as the model wrote them (JSON text, maybe malformed)."""

    id: str
    name: str
    arguments: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ToolCall:
        return cls(str(raw["id"]), str(raw["name"]), str(raw["arguments"]))


@dataclass(frozen=True)
class ChatMessage:
    """One message of a conversation. An assistant turn of an agent run may carry the tool calls
    it made; a `tool` message answers one of them (`tool_call_id`)."""

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Role and content; the tool fields only when set (so that a plain message's JSON,
        and every key taken over it, is what it was before tools existed)."""
        found: dict[str, Any] = {"role": self.role, "content": self.content}
        if self.tool_calls:
            found["tool_calls"] = [c.to_json() for c in self.tool_calls]
        if self.tool_call_id is not None:
            found["tool_call_id"] = self.tool_call_id
        return found

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ChatMessage:
        return cls(
            raw["role"],
            raw["content"],
            tuple(ToolCall.from_json(c) for c in raw.get("tool_calls") or ()),
            raw.get("tool_call_id"),
        )


@dataclass(frozen=True)
class ChatRequest:
    """One rendered prompt for the reasoner. `sample_index` separates repeated samples.

    `tools` (an agent run with native tool calling) are the function schemas the model may call,
    in the OpenAI form ({"type": "function", "function": {name, description, parameters}}); a
    reasoner that calls tools natively passes them to the model and returns its calls."""

    item_id: str
    messages: tuple[ChatMessage, ...]
    sample_index: int = 0
    tools: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "item_id": self.item_id,
            "messages": [m.to_json() for m in self.messages],
            "sample_index": self.sample_index,
        }
        if self.tools:
            found["tools"] = [dict(t) for t in self.tools]
        return found

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ChatRequest:
        return cls(
            item_id=raw["item_id"],
            messages=tuple(ChatMessage.from_json(m) for m in raw["messages"]),
            sample_index=raw.get("sample_index", 0),
            tools=tuple(raw.get("tools") or ()),
        )


@dataclass(frozen=True)
class ReasonerResponse:
    """A reasoner's answer to one request.

    `text` is the final answer only; a thinking trace (a `<think>` block or a server's
    `reasoning_content`) is in `reasoning` and never reaches answer extraction. A non-empty `error`
    means there is no answer at all: `text` is empty and the response is never cached.
    """

    text: str
    reasoning: str = ""
    finish_reason: FinishReason = "stop"
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    latency_s: float = 0.0
    error: str | None = None
    reasoning_tokens: int | None = None
    """Of `completion_tokens`, those spent on reasoning (as the server reports them)."""
    cached_tokens: int | None = None
    """Of `prompt_tokens`, those the server read from its prompt cache (billed lower)."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The tools the model called in this turn (native tool calling); none: a final answer."""

    @property
    def ok(self) -> bool:
        return self.error is None

    def usage(self) -> dict[str, int | None]:
        """The token counts of this response, as a result line records them."""
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "cached_tokens": self.cached_tokens,
        }

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    def to_json(self) -> dict[str, Any]:
        found = asdict(self)
        found["tool_calls"] = [c.to_json() for c in self.tool_calls]
        if not self.tool_calls:  # an answer's stored JSON stays what it was before tools
            found.pop("tool_calls")
        return found

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ReasonerResponse:
        values = {k: raw[k] for k in _fields(cls) if k in raw}
        values["tool_calls"] = tuple(ToolCall.from_json(c) for c in raw.get("tool_calls") or ())
        return cls(**values)

    @classmethod
    def failed(cls, error: str, latency_s: float = 0.0) -> ReasonerResponse:
        return cls(text="", finish_reason="error", error=error, latency_s=latency_s)


def _fields(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]
