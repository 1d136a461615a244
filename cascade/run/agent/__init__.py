"""Agent runs: the reasoner calls front-end components as tools (`loop.Agent`), each call a
cached stage output (`tools`), by native tool calling or the text action protocol
(`protocol`); the trace is the item's reasoning (`trace`)."""

from cascade.run.agent.loop import NO_CONTEXT, Agent, AgentResult, AgentStart
from cascade.run.agent.tools import CallOutcome, ItemAudio, Tool, ToolBox
from cascade.run.agent.trace import (
    OUTCOMES,
    THINKING_LIMIT,
    agent_sentence,
    readable,
    summarise,
)

__all__ = [
    "NO_CONTEXT",
    "OUTCOMES",
    "THINKING_LIMIT",
    "Agent",
    "AgentResult",
    "AgentStart",
    "CallOutcome",
    "ItemAudio",
    "Tool",
    "ToolBox",
    "agent_sentence",
    "readable",
    "summarise",
]
