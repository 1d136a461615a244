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
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """One rendered prompt for the reasoner. `sample_index` separates repeated samples."""

    item_id: str
    messages: tuple[ChatMessage, ...]
    sample_index: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "messages": [asdict(m) for m in self.messages],
            "sample_index": self.sample_index,
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ChatRequest:
        return cls(
            item_id=raw["item_id"],
            messages=tuple(ChatMessage(m["role"], m["content"]) for m in raw["messages"]),
            sample_index=raw.get("sample_index", 0),
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
        return asdict(self)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ReasonerResponse:
        return cls(**{k: raw[k] for k in _fields(cls) if k in raw})

    @classmethod
    def failed(cls, error: str, latency_s: float = 0.0) -> ReasonerResponse:
        return cls(text="", finish_reason="error", error=error, latency_s=latency_s)


def _fields(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]
