"""The agent loop: one more way to compute an item's answer inside the one lifecycle of a run.

Every conversation of a batch takes its turn together (one reasoner batch per step, each turn a
cached reasoner output keyed by the whole conversation so far), then every tool call of the step
runs together (one component batch per tool, each call a cached stage output). A conversation
ends at the first turn that calls no tool (its answer), at a turn cut by the token limit, when
the step budget (`agent.max_steps`) is spent while it still calls tools (`budget`), or when it
outgrows the model's context (`context`); the last three are INVALID answers with that reason,
never a guess. A call identical to one made earlier in the conversation is answered with the
earlier result and not run again (`repeated_from`). A reasoner failure of another kind fails the
item like any reasoner failure (retried on resume).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cascade.core import (
    Cache,
    ChatMessage,
    ChatRequest,
    Item,
    PromptTemplate,
    Reasoner,
    ReasonerResponse,
    ToolCall,
    prompts,
)
from cascade.run import plan
from cascade.run.agent.protocol import Protocol, calls_of, describe_tools, turn_messages
from cascade.run.agent.tools import (
    CallOutcome,
    ItemAudio,
    ToolBox,
    canonical_arguments,
    failed_outcome,
    make_tools,
    repeated,
)
from cascade.run.agent.trace import readable
from cascade.run.answering import Answerer, AnswerRecord, answer, format_choices, letters_phrase
from cascade.run.config import AGENT_PROMPTS, AgentSpec, RunConfig, agent_protocol
from cascade.run.description import NO_DESCRIPTION
from cascade.run.frontend import Stage
from cascade.run.isolation import Counts

NO_CONTEXT = "You have no description of the clip: call the tools to listen to it."
"""What the reasoner sees first besides the question when `agent.sees` is `question`."""

_CONTEXT_ERROR = re.compile(
    r"context[ _-]?length|maximum context|max_model_len|maximum model length|context window|"
    r"prompt is too long|too many tokens",
    re.IGNORECASE,
)
"""A reasoner error that says the conversation no longer fits the model (vLLM, OpenAI-style
servers): the item ends as INVALID (`context`), not as a failure to retry."""


@dataclass(frozen=True)
class AgentStart:
    """One conversation to run: the item, its first request (with its sample index) and what
    its tools hear."""

    item: Item
    request: ChatRequest
    audio: ItemAudio


@dataclass(frozen=True)
class AgentResult:
    """How one conversation ended, with its whole trace."""

    first: ChatRequest
    final: AnswerRecord | None
    """The last turn (None when the conversation ended before any)."""
    outcome: str | None
    """`answer`, `budget`, `context` or `length`; None when the reasoner failed (`error`)."""
    error: str | None
    trace: dict[str, Any]
    reasoning: str
    """The readable trace (`thinking_prediction`)."""
    cached: bool
    """Every turn came from the cache."""
    usage: dict[str, int | None]
    latency_s: float


@dataclass
class _Conversation:
    start: AgentStart
    messages: list[ChatMessage]
    steps: list[dict[str, Any]] = field(default_factory=list)
    seen: dict[tuple[str, str], tuple[int, CallOutcome]] = field(default_factory=dict)
    new_messages: list[ChatMessage] = field(default_factory=list)
    result: AgentResult | None = None


class Agent:
    """An agent run's tools, protocol and prompt; `run` computes a batch of conversations."""

    def __init__(
        self, spec: AgentSpec, protocol: Protocol, template: PromptTemplate, toolbox: ToolBox
    ) -> None:
        self.spec = spec
        self.protocol = protocol
        self.template = template
        self.toolbox = toolbox

    @classmethod
    def build(cls, config: RunConfig, cache: Cache) -> Agent | None:
        """The agent of a run config (None for a one-way run); loads no model."""
        if config.agent is None:
            return None
        stages = []
        for spec in config.agent.tools:
            component = plan.build("captioner", spec)
            stages.append(Stage(spec.stage, component))  # type: ignore[arg-type]
        tools = make_tools(stages, [spec.label is not None for spec in config.agent.tools])
        protocol = agent_protocol(config)
        template = prompts.load(AGENT_PROMPTS[protocol])
        return cls(
            config.agent, protocol, template, ToolBox(tools, cache, config.agent.tool_timeout_s)
        )

    @property
    def stages(self) -> list[Stage]:
        return [t.stage for t in self.toolbox.tools.values()]

    def tool_specs(self) -> tuple[dict[str, Any], ...]:
        """The schemas a native request offers (none under the text protocol)."""
        if self.protocol != "native":
            return ()
        return tuple(s.to_openai() for s in self.toolbox.schemas)

    def first_request(
        self, item: Item, description: str | None, audio_path: Path
    ) -> tuple[ChatRequest, ItemAudio]:
        """The conversation's first request and what the tools hear.

        Raises:
            CascadeError: the clip cannot be read (an AudioError), or the prompt cannot render.
        """
        audio = self.toolbox.audio(item.id, audio_path)
        context = (
            f"Description of the audio:\n{description}"
            if description is not None and description != NO_DESCRIPTION
            else NO_CONTEXT
        )
        values = {
            "tools": describe_tools(self.toolbox.schemas),
            "context": context,
            "duration": f"{audio.duration_s:.2f}",
            "question": item.question,
            "choices": format_choices(item.choices),
            "letters": letters_phrase(len(item.choices)),
            "max_steps": str(self.spec.max_steps),
        }
        messages = self.template.render(
            **{k: values[k] for k in self.template.placeholders if k in values}
        )
        return ChatRequest(item.id, messages, tools=self.tool_specs()), audio

    def run(
        self,
        starts: Sequence[AgentStart],
        reasoner: Reasoner,
        cache: Cache,
        counts: Counts,
        answerer: Answerer = answer,
    ) -> list[AgentResult]:
        """Every conversation to its end, in order (see the module's docstring)."""
        conversations = [
            _Conversation(s, list(s.request.messages), new_messages=list(s.request.messages))
            for s in starts
        ]
        for step in range(1, self.spec.max_steps + 1):
            active = [c for c in conversations if c.result is None]
            if not active:
                break
            requests = [replace(c.start.request, messages=tuple(c.messages)) for c in active]
            records = answerer(requests, reasoner, cache, counts)
            calling: list[tuple[_Conversation, AnswerRecord, list[ToolCall]]] = []
            for conversation, record in zip(active, records, strict=True):
                calls = self._turn(conversation, record, step)
                if calls is not None:
                    calling.append((conversation, record, calls))
            self._call_tools(calling, step)
        return [c.result for c in conversations if c.result is not None]

    def _turn(
        self, conversation: _Conversation, record: AnswerRecord, step: int
    ) -> list[ToolCall] | None:
        """Record the turn; end the conversation, or return the calls it makes."""
        response = record.response
        entry = _step_json(step, conversation.new_messages, record)
        conversation.steps.append(entry)
        if not response.ok:
            context = _CONTEXT_ERROR.search(response.error or "") is not None
            self._end(conversation, record, "context" if context else None, response.error)
            return None
        calls = calls_of(response, self.protocol, step)
        if response.truncated:
            self._end(conversation, record, "length")
        elif not calls:
            self._end(conversation, record, "answer")
        elif step == self.spec.max_steps:
            entry["calls"] = [
                failed_outcome(c, "not run: the step budget (agent.max_steps) is spent").to_json()
                for c in calls
            ]
            self._end(conversation, record, "budget")
        else:
            return calls
        return None

    def _call_tools(
        self, calling: Sequence[tuple[_Conversation, AnswerRecord, list[ToolCall]]], step: int
    ) -> None:
        """Run every call of the step together; give each conversation its results."""
        limit = self.spec.calls_per_step
        batch: list[tuple[ToolCall, ItemAudio]] = []
        planned: list[list[CallOutcome | int]] = []
        for conversation, _, calls in calling:
            mine: list[CallOutcome | int] = []
            for n, call in enumerate(calls):
                seen = conversation.seen.get((call.name, canonical_arguments(call)))
                if n >= limit:
                    mine.append(
                        failed_outcome(
                            call,
                            f"not run: at most {limit} calls per turn (agent.calls_per_step)",
                        )
                    )
                elif seen is not None:
                    mine.append(repeated(call, seen[1], seen[0]))
                else:
                    mine.append(len(batch))
                    batch.append((call, conversation.start.audio))
            planned.append(mine)
        outcomes = self.toolbox.call(batch)
        for (conversation, record, calls), mine in zip(calling, planned, strict=True):
            done = [outcomes[m] if isinstance(m, int) else m for m in mine]
            for call, outcome in zip(calls, done, strict=True):
                conversation.seen.setdefault(
                    (call.name, canonical_arguments(call)), (step, outcome)
                )
            conversation.steps[-1]["calls"] = [o.to_json() for o in done]
            added = turn_messages(
                record.response,
                calls,
                [o.output for o in done],
                self.protocol,
                self.spec.max_steps - step,
            )
            conversation.messages.extend(added)
            conversation.new_messages = added[1:]  # the next request's new text: the results

    def _end(
        self,
        conversation: _Conversation,
        record: AnswerRecord,
        outcome: str | None,
        error: str | None = None,
    ) -> None:
        steps = conversation.steps
        trace = {
            "protocol": self.protocol,
            "outcome": outcome,
            "steps": steps,
            "tool_calls": sum(len(s.get("calls", ())) for s in steps),
            "repeated_calls": sum(
                c.get("repeated_from") is not None for s in steps for c in s.get("calls", ())
            ),
        }
        conversation.result = AgentResult(
            first=conversation.start.request,
            final=record,
            outcome=outcome,
            error=None if outcome is not None else error,
            trace=trace,
            reasoning=readable(steps, outcome or "error"),
            cached=all(s["cached"] for s in steps),
            usage={
                "prompt_tokens": _total(s["prompt_tokens"] for s in steps),
                "completion_tokens": _total(s["completion_tokens"] for s in steps),
            },
            latency_s=sum(s["latency_s"] for s in steps),
        )


def _total(values: Any) -> int | None:
    found = [v for v in values if v is not None]
    return sum(found) if found else None


def _step_json(
    step: int, new_messages: Sequence[ChatMessage], record: AnswerRecord
) -> dict[str, Any]:
    response: ReasonerResponse = record.response
    return {
        "step": step,
        "request": [m.to_json() for m in new_messages],
        "text": response.text,
        "reasoning": response.reasoning,
        "tool_calls": [c.to_json() for c in response.tool_calls],
        "finish_reason": response.finish_reason,
        "error": response.error,
        "calls": [],
        "prompt_tokens": response.prompt_tokens,
        "completion_tokens": response.completion_tokens,
        "latency_s": round(response.latency_s, 4),
        "key": record.key,
        "cached": record.cached,
    }
