"""Per-item results: one answer scored by every scorer, and the line written for each item."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cascade.core import Item, benchmark_by_name
from cascade.scoring.extraction import Extraction
from cascade.scoring.rules import Scored, score

__all__ = [
    "ItemResult",
    "Scored",
    "extraction_json",
    "score_answer",
]


def score_answer(item: Item, result: ItemResult) -> Scored:
    """Score one stored result by every scorer (the policy: cascade.scoring.rules), `official`
    by the rule of the item's benchmark."""
    return score(
        result.raw_answer,
        item.choices,
        item.answer,
        truncated=result.truncated,
        verbatim=result.verbatim_prediction,
        official=benchmark_by_name(item.benchmark).official_match,
    )


def extraction_json(extraction: Extraction | None) -> dict[str, Any] | None:
    if extraction is None:
        return None
    return {"index": extraction.index, "letter": extraction.letter, "rule": extraction.rule}


@dataclass(frozen=True)
class ItemResult:
    """The line written for one item as soon as it is done: everything needed to audit and
    re-score it without a model."""

    id: str
    raw_answer: str | None
    """The reasoner's final answer text (thinking removed); None when the item failed."""
    reasoning: str = ""
    finish_reason: str | None = None
    error: str | None = None
    error_stage: str | None = None
    """Where the item failed: `audio`, `stage:<label>`, `prompt` or `reasoner`."""
    stages: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per stage: its cache key, whether it was re-used, and its error if any."""
    description: str | None = None
    prompt_hash: str | None = None
    reasoner_key: str | None = None
    reasoner_cached: bool | None = None
    usage: Mapping[str, int | None] = field(default_factory=dict)
    timings: Mapping[str, float] = field(default_factory=dict)
    sample: int = 0
    verbatim_prediction: bool = False
    """`raw_answer` is a prediction read from a predictions file cascade did not write: the
    official rule judges it verbatim (see cascade.scoring.rules)."""
    agent: Mapping[str, Any] | None = None
    """An agent run's whole trace (`cascade.run.agent`): every step's request text, tool calls,
    arguments, outputs, tokens and latency, and how it ended. Absent from one-way results."""

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"

    def to_json(self, item: Item) -> dict[str, Any]:
        scored = score_answer(item, self)
        return {
            "id": self.id,
            "sample": self.sample,
            "error": self.error,
            "error_stage": self.error_stage,
            "raw_answer": self.raw_answer,
            "reasoning": self.reasoning,
            "finish_reason": self.finish_reason,
            "truncated": self.truncated,
            "extractions": {m: extraction_json(e) for m, e in scored.extractions.items()},
            "answer_prediction": scored.answer_prediction,
            "correct": dict(scored.correct),
            "stages": {k: dict(v) for k, v in self.stages.items()},
            "description": self.description,
            "prompt_hash": self.prompt_hash,
            "reasoner_key": self.reasoner_key,
            "reasoner_cached": self.reasoner_cached,
            "usage": dict(self.usage),
            "timings": dict(self.timings),
        } | ({"agent": dict(self.agent)} if self.agent is not None else {})

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> ItemResult:
        """The stored facts of a result line (scores are always recomputed, never read back)."""
        return cls(
            id=raw["id"],
            raw_answer=raw.get("raw_answer"),
            reasoning=raw.get("reasoning") or "",
            finish_reason=raw.get("finish_reason"),
            error=raw.get("error"),
            error_stage=raw.get("error_stage"),
            stages=raw.get("stages") or {},
            description=raw.get("description"),
            prompt_hash=raw.get("prompt_hash"),
            reasoner_key=raw.get("reasoner_key"),
            reasoner_cached=raw.get("reasoner_cached"),
            usage=raw.get("usage") or {},
            timings=raw.get("timings") or {},
            sample=int(raw.get("sample") or 0),  # null: a majority line with no majority
            verbatim_prediction=bool(raw.get("verbatim_prediction", False)),
            agent=raw.get("agent"),
        )
