"""The tools of an agent run: front-end components called on a window of an item's clip, each
call a cached stage output.

A call is keyed like any stage output (`stage_key`): the clip's content, the component's identity
and what conditions the output, here the window (rounded to 0.01 s) and the question. A call on
the whole clip without a question has the key of the component's one-way output, so an agent run
re-uses what a one-way run of the same clips computed, and the other way round. A window past
the clip's end is clipped and the output says so; arguments the tool cannot take, an unknown
tool, a component's failure and a call that outlasts `agent.tool_timeout_s` come back to the
model as tool errors: they never fail the item.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cascade.core import (
    Cache,
    CascadeError,
    Clip,
    StageInput,
    StageOutput,
    ToolArgumentError,
    ToolArguments,
    ToolCall,
    ToolSchema,
    parse_arguments,
    stage_key,
    tool_schema,
)
from cascade.core.tools import WINDOW_DECIMALS
from cascade.run.description import EMPTY_BODIES, quote
from cascade.run.frontend import Stage, describe_isolated, stage_failure
from cascade.run.isolation import Counts


@dataclass(frozen=True)
class Tool:
    """A component offered to the reasoner, under the schema it reads."""

    schema: ToolSchema
    stage: Stage


def make_tools(stages: Sequence[Stage], labelled: Sequence[bool]) -> list[Tool]:
    """One tool per component, named for its kind unless its spec gave a label.

    Raises:
        CascadeError: two tools would share a name.
    """
    tools = []
    for stage, has_label in zip(stages, labelled, strict=True):
        component = stage.component
        schema = tool_schema(
            component.kind,
            component.conditions_on_question,
            stage.label if has_label else None,
        )
        tools.append(Tool(schema, stage))
    names = [t.schema.name for t in tools]
    if len(set(names)) != len(names):
        raise CascadeError(
            f"agent.tools: two tools share a name in {names}; give one a distinct `label` "
            "(its tool's name)"
        )
    return tools


@dataclass
class ItemAudio:
    """What the tools hear of one item: its clip (decoded once) and its content hash."""

    item_id: str
    path: Path
    clip: Clip
    audio_hash: str

    @property
    def duration_s(self) -> float:
        return round(self.clip.duration_s, WINDOW_DECIMALS)


@dataclass(frozen=True)
class CallOutcome:
    """What one call returned to the model, and how it was made."""

    call: ToolCall
    output: str
    """The text the model reads (an output with its window note, or `error: ...`)."""
    error: str | None = None
    window: tuple[float, float] | None = None
    key: str | None = None
    cached: bool = False
    repeated_from: int | None = None
    """The step whose identical call this one repeats (answered without running the tool)."""
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.call.id,
            "name": self.call.name,
            "arguments": self.call.arguments,
            "output": self.output,
            "error": self.error,
            "window": list(self.window) if self.window else None,
            "key": self.key,
            "cached": self.cached,
            "repeated_from": self.repeated_from,
            "seconds": round(self.seconds, 4),
        }


@dataclass(frozen=True)
class _Planned:
    """A call ready to run: its tool, input, key and the note its output carries."""

    index: int
    tool: Tool
    key: str
    stage_input: StageInput
    window: tuple[float, float] | None
    note: str


class ToolBox:
    """The run's tools over its cache; `call` answers a batch of calls, cache first."""

    def __init__(self, tools: Sequence[Tool], cache: Cache, timeout_s: float) -> None:
        self.tools = {t.schema.name: t for t in tools}
        self.cache = cache
        self.timeout_s = timeout_s
        self.counts = Counts()
        """Tool calls computed, re-used and failed, by tool name (`by_stage`)."""

    @property
    def schemas(self) -> list[ToolSchema]:
        return [t.schema for t in self.tools.values()]

    def audio(self, item_id: str, path: Path) -> ItemAudio:
        """An item's clip for the tools (decoded now, so a bad file fails the item here)."""
        clip = Clip(path)
        clip.channels  # noqa: B018  (decode once, for the duration and every call)
        return ItemAudio(item_id, path, clip, self.cache.audio_hash(path))

    def call(self, calls: Sequence[tuple[ToolCall, ItemAudio]]) -> list[CallOutcome]:
        """Every call's outcome, in order: cached outputs re-used, the rest computed per tool
        in one batch (stored when they succeed), every failure a tool error."""
        done: dict[int, CallOutcome] = {}
        by_tool: dict[str, list[_Planned]] = {}
        for index, (call, audio) in enumerate(calls):
            planned = self._plan(index, call, audio)
            if isinstance(planned, CallOutcome):
                done[index] = planned
                continue
            hit = self.cache.get(self._namespace(planned.tool), planned.key)
            if hit is not None:
                output = StageOutput.from_json(hit)
                self.counts.tally(True, reused=True, stage=planned.tool.schema.name)
                done[index] = self._outcome(call, planned, output, cached=True, seconds=0.0)
            else:
                by_tool.setdefault(planned.tool.schema.name, []).append(planned)
        for name, batch in by_tool.items():
            outputs, seconds = self._run(self.tools[name], batch)
            for planned, output in zip(batch, outputs, strict=True):
                if output.ok:
                    identity = planned.tool.stage.component.identity
                    self.cache.put(
                        self._namespace(planned.tool),
                        planned.key,
                        {**output.to_json(), "identity": identity.to_json()},
                    )
                self.counts.tally(output.ok, stage=name)
                call = calls[planned.index][0]
                done[planned.index] = self._outcome(
                    call, planned, output, cached=False, seconds=seconds / len(batch)
                )
        return [done[i] for i in range(len(calls))]

    @staticmethod
    def _namespace(tool: Tool) -> str:
        return f"stages/{tool.stage.component.identity.name}"

    def _plan(self, index: int, call: ToolCall, audio: ItemAudio) -> _Planned | CallOutcome:
        tool = self.tools.get(call.name)
        if tool is None:
            names = ", ".join(self.tools)
            return _error(call, f"there is no tool named {call.name!r}; the tools are: {names}")
        try:
            arguments = parse_arguments(tool.schema, call.arguments)
            window, note = _window(arguments, audio.duration_s)
        except ToolArgumentError as error:
            return _error(call, f"{call.name}: {error}")
        conditioning: dict[str, Any] | None = None
        if tool.schema.asks:
            conditioning = {"question": arguments.question, "window": window}
        elif window is not None:
            conditioning = {"window": list(window)}
        key = stage_key(audio.audio_hash, tool.stage.component.identity, conditioning)
        clip = audio.clip if window is None else _cut(audio.clip, window)
        stage_input = StageInput(audio.item_id, clip, arguments.question or "", ())
        return _Planned(index, tool, key, stage_input, window, note)

    def _run(self, tool: Tool, batch: Sequence[_Planned]) -> tuple[list[StageOutput], float]:
        """The component's outputs for the batch, each a failure when the batch outlasts the
        timeout (the component keeps running in its thread; its late outputs are dropped)."""
        inputs = [p.stage_input for p in batch]
        result: list[list[StageOutput]] = []
        limit = self.timeout_s * len(inputs)

        def work() -> None:
            result.append(describe_isolated(tool.stage, inputs))

        started = time.perf_counter()
        worker = threading.Thread(target=work, name=f"tool-{tool.schema.name}", daemon=True)
        worker.start()
        worker.join(limit)
        seconds = time.perf_counter() - started
        self.counts.model_seconds += seconds
        if not result:
            message = (
                f"the tool took longer than {limit:g} s (agent.tool_timeout_s="
                f"{self.timeout_s:g} per call) and was abandoned"
            )
            return [stage_failure(tool.stage, i.item_id, message) for i in inputs], seconds
        return result[0], seconds

    def _outcome(
        self,
        call: ToolCall,
        planned: _Planned,
        output: StageOutput,
        *,
        cached: bool,
        seconds: float,
    ) -> CallOutcome:
        if not output.ok:
            return CallOutcome(
                call,
                f"error: {call.name} failed: {output.error}",
                error=output.error,
                window=planned.window,
                key=planned.key,
                seconds=seconds,
            )
        kind = planned.tool.stage.component.kind
        text = output.text.strip()
        body = quote(text, kind) if text else EMPTY_BODIES[kind]
        return CallOutcome(
            call,
            f"{planned.note}\n{body}",
            window=planned.window,
            key=planned.key,
            cached=cached,
            seconds=seconds,
        )


def _error(call: ToolCall, message: str) -> CallOutcome:
    return CallOutcome(call, f"error: {message}", error=message)


def _window(arguments: ToolArguments, duration: float) -> tuple[tuple[float, float] | None, str]:
    """The window a call covers (None: the whole clip) and the note its output starts with.

    Raises:
        ToolArgumentError: the window starts at or after the clip's end.
    """
    start = arguments.start_s or 0.0
    asked_end = arguments.end_s
    end = duration if asked_end is None else min(asked_end, duration)
    if start >= duration:
        raise ToolArgumentError(
            f"the window starts at {start:.2f} s, but the clip ends at {duration:.2f} s"
        )
    clipped = asked_end is not None and asked_end > duration
    if start == 0 and end >= duration:
        note = f"(the whole clip, 0.00-{duration:.2f} s"
        window = None
    else:
        note = (
            f"(window {start:.2f}-{end:.2f} s of the {duration:.2f} s clip; times are from the "
            "window's start"
        )
        window = (start, round(end, WINDOW_DECIMALS))
    if clipped:
        note += f"; you asked for up to {asked_end:.2f} s, past the clip's end, so it was clipped"
    return window, note + ")"


def _cut(clip: Clip, window: tuple[float, float]) -> Clip:
    """The part of a clip inside the window, at its native rate, every channel kept."""
    rate = clip.native_rate
    start, end = (round(t * rate) for t in window)
    return Clip.from_array(clip.channels[start:end], rate, path=clip.path)


def canonical_arguments(call: ToolCall) -> str:
    """The call's arguments in one spelling (sorted keys), to recognise a repeated call; the
    raw text when it is not JSON."""
    try:
        return json.dumps(json.loads(call.arguments or "{}"), sort_keys=True)
    except json.JSONDecodeError:
        return call.arguments


def failed_outcome(call: ToolCall, message: str) -> CallOutcome:
    """A call answered with a tool error without running (over the per-turn limit)."""
    return _error(call, message)


def repeated(call: ToolCall, earlier: CallOutcome, step: int) -> CallOutcome:
    """A call identical to one of an earlier step: its output again, not run again."""
    return replace(
        earlier,
        call=call,
        output=f"(a repeated call: the same call as in step {step}; its result again)\n"
        f"{earlier.output}",
        cached=True,
        repeated_from=step,
        seconds=0.0,
    )
