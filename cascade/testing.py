"""Scripted components and synthetic audio for driving the real pipeline without models.

Shipped with the package (like lhotse's test helpers) so that users can test their own configs,
prompts and scorers end to end. They are registered as `scripted` and are never a default.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from cascade.core import (
    Captioner,
    CascadeError,
    ChatRequest,
    ComponentConfig,
    Reasoner,
    ReasonerResponse,
    RuntimeConfig,
    StageInput,
    StageKind,
    StageOutput,
)


class ScriptedCaptionerConfig(ComponentConfig):
    kind: StageKind = "caption"
    template: str = "a clip of {duration:.1f} seconds"
    """Text for every clip; `{duration}` and `{item_id}` are filled in."""
    texts: dict[str, str] = Field(default_factory=dict)
    """Per-item texts by item id, instead of the template."""
    fail: list[str] = Field(default_factory=list)
    """Item ids this stage fails on (recorded as per-item errors)."""
    asks: bool = False
    """The stage takes the question (as a question-conditioned captioner does; as an agent's
    tool, `ask_audio`): `{question}` in the template is filled in."""
    delay_s: float = 0.0
    """Sleep per clip (to make a tool outlast its timeout in tests)."""


class ScriptedCaptioner(Captioner):
    """A front-end stage that reads each clip (so bad audio fails for real) and returns set text."""

    name: ClassVar[str] = "scripted"
    kind: ClassVar[StageKind] = "caption"
    added_fields: ClassVar[Mapping[str, Any]] = {"asks": False, "delay_s": 0.0}
    Config = ScriptedCaptionerConfig
    config: ScriptedCaptionerConfig

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls: list[list[str]] = []
        setattr(self, "kind", self.config.kind)  # noqa: B010  (the configured kind is its kind)

    @property
    def conditions_on_question(self) -> bool:
        return self.config.asks

    def describe(self, batch: Sequence[StageInput]) -> list[StageOutput]:
        self.calls.append([b.item_id for b in batch])
        return self.each_clip(batch, self.describe_clip)  # holds no model: nothing to load

    def describe_clip(self, item: StageInput) -> StageOutput:
        if item.item_id in self.config.fail:
            return self.failure(item, "scripted failure")
        time.sleep(self.config.delay_s)
        duration = item.clip.duration_s
        text = self.config.texts.get(item.item_id) or self.config.template.format(
            duration=duration, item_id=item.item_id, question=item.question
        )
        return StageOutput(
            item_id=item.item_id,
            stage=self.name,
            kind=self.config.kind,
            text=text,
            data={"duration_s": duration},
        )


class ScriptedReasonerConfig(ComponentConfig):
    answers: dict[str, str] = Field(default_factory=dict)
    """Final answer text per item id."""
    default: str = "ANSWER: A"
    """Answer for items not in `answers`."""
    sample_answers: dict[str, list[str]] = Field(default_factory=dict)
    """Item id -> answer text per sample index (`run.samples`); samples past the list answer
    from `answers` / `default`."""
    reasoning: str = ""
    """Thinking trace returned with every answer."""
    errors: dict[str, str] = Field(default_factory=dict)
    """Item id -> error message: these requests fail (as a failing API would)."""
    truncated: list[str] = Field(default_factory=list)
    """Item ids whose answer stops at the length limit."""
    turns: dict[str, list[str]] = Field(default_factory=dict)
    """Item id -> the text of each turn of an agent run's conversation (turn n answers a request
    with n - 1 assistant messages; e.g. `CALL transcribe {}` lines, then an answer); turns past
    the list answer from `answers` / `default`."""


class ScriptedReasonerRuntime(RuntimeConfig):
    delay_s: float = 0.0
    """Sleep per request, to make runs slow enough to interrupt in tests."""
    trace_dir: str | None = None
    """Where each process that loads this reasoner leaves a file named after its pid (written
    at `load()` and before every batch), so that tests can find and count the processes."""
    fail_load: str | None = None
    """`load()` raises a CascadeError with this message (a component that cannot start)."""


class ScriptedReasoner(Reasoner):
    """A reasoner that answers from a script keyed by item id."""

    name: ClassVar[str] = "scripted"
    added_fields: ClassVar[Mapping[str, Any]] = {"turns": {}}
    Config = ScriptedReasonerConfig
    Runtime = ScriptedReasonerRuntime
    config: ScriptedReasonerConfig
    runtime: ScriptedReasonerRuntime

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.calls: list[list[str]] = []

    def load(self) -> object:
        if self.runtime.fail_load is not None:
            raise CascadeError(self.runtime.fail_load)
        self._trace()
        return None

    def _trace(self) -> None:
        if self.runtime.trace_dir is not None:
            folder = Path(self.runtime.trace_dir)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / str(os.getpid())).touch()

    def generate(self, requests: Sequence[ChatRequest]) -> list[ReasonerResponse]:
        self.calls.append([r.item_id for r in requests])
        self._trace()
        responses = []
        for request in requests:
            time.sleep(self.runtime.delay_s)
            if request.item_id in self.config.errors:
                responses.append(ReasonerResponse.failed(self.config.errors[request.item_id]))
                continue
            responses.append(
                ReasonerResponse(
                    text=self._text(request),
                    reasoning=self.config.reasoning,
                    finish_reason="length" if request.item_id in self.config.truncated else "stop",
                    prompt_tokens=sum(len(m.content.split()) for m in request.messages),
                    completion_tokens=1,
                    latency_s=self.runtime.delay_s,
                )
            )
        return responses

    def _text(self, request: ChatRequest) -> str:
        turn = sum(m.role == "assistant" for m in request.messages)
        script = self.config.turns.get(request.item_id, [])
        if turn < len(script):
            return script[turn]
        per_sample = self.config.sample_answers.get(request.item_id, [])
        if request.sample_index < len(per_sample):
            return per_sample[request.sample_index]
        return self.config.answers.get(request.item_id, self.config.default)


def sine(path: Path, *, frequency: float = 440.0, seconds: float = 1.0, rate: int = 16000) -> Path:
    """Write a sine tone to `path` (WAV or FLAC by suffix) and return the path."""
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    sf.write(str(path), (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), rate)
    return path
