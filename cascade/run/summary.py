"""What one invocation of a run did: items resumed and processed, failures, the work computed
versus re-used, and the message of a run that left items without an answer (exit code 3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cascade.core import ItemsFailed
from cascade.run.isolation import Counts


@dataclass
class RunSummary:
    run_dir: Path
    name: str
    benchmark: str
    total: int
    resumed: int = 0
    """Items already finished in the run directory before this invocation."""
    processed: int = 0
    """Items this invocation computed a result for."""
    errors: int = 0
    frontend: Counts = field(default_factory=Counts)
    reasoner: Counts = field(default_factory=Counts)
    wall_seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    stopped: str | None = None
    notices: list[str] = field(default_factory=list)
    """What a reader of the numbers must know: scripted components, a preset's fallback."""
    scripted: list[str] = field(default_factory=list)
    """The scripted components (test doubles) of the run: `reasoner`, `captioner:<label>`."""
    skipped: dict[str, str] = field(default_factory=dict)
    """Items left out before the run (`--skip-missing-audio`), with why."""
    unanswered: int = 0
    """Items of the benchmark without an answer when the run finished (errors and pending)."""
    first_errors: dict[str, str] = field(default_factory=dict)
    """Per error stage, the first error of this invocation ("item id: message")."""
    estimate: dict[str, Any] | None = None
    """The plan's figures for the reasoner when this invocation began (`cascade.run.estimate`)."""
    cost: dict[str, Any] | None = None
    """Tokens and cost of the run's answers, computed and re-used (`cascade.run.costs`)."""
    tools: Counts = field(default_factory=Counts)
    """An agent run's tool calls of this invocation: computed, re-used (from the cache) and
    failed, by tool (`by_stage`)."""
    agent: dict[str, Any] | None = None
    """An agent run's figures over every item (`cascade.run.agent.summarise`), at finalising."""

    def tools_json(self) -> dict[str, Any]:
        """The tool calls of this invocation: computed, re-used, failed, by tool."""
        return {
            "computed": self.tools.computed,
            "reused": self.tools.reused,
            "failed": self.tools.failed,
            "by_tool": self.tools.by_stage,
            "model_seconds": round(self.tools.model_seconds, 3),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "name": self.name,
            "benchmark": self.benchmark,
            "total": self.total,
            "resumed": self.resumed,
            "processed": self.processed,
            "errors": self.errors,
            "unanswered": self.unanswered,
            "skipped": self.skipped,
            "first_errors": self.first_errors,
            "notices": self.notices,
            "scripted": self.scripted,
            "stages": {
                "computed": self.frontend.computed,
                "reused": self.frontend.reused,
                "failed": self.frontend.failed,
                "by_stage": self.frontend.by_stage,
                "model_seconds": round(self.frontend.model_seconds, 3),
            },
            "reasoner": {
                "computed": self.reasoner.computed,
                "reused": self.reasoner.reused,
                "failed": self.reasoner.failed,
                "model_seconds": round(self.reasoner.model_seconds, 3),
            },
            "wall_seconds": round(self.wall_seconds, 3),
            "stopped": self.stopped,
            "cost": self.cost,
        } | ({"agent": self.agent | {"calls": self.tools_json()}} if self.agent is not None else {})


def unanswered_message(summary: RunSummary) -> str:
    """The paragraph of exit code 3: how many items have no answer, why, and what to do."""
    causes = "; ".join(summary.first_errors.values()) or "see results.jsonl"
    return (
        f"{summary.unanswered} of {summary.total} items of {summary.name} have no answer "
        f"(the first failure of each stage: {causes}). Every output is written to "
        f"{summary.run_dir}; those items count as wrong there. Fix the cause and run the same "
        "command again: only the failed items are retried."
    )


def check_answered(summary: RunSummary) -> None:
    """Raise ItemsFailed (exit code 3) when the finished run left items without an answer."""
    if summary.unanswered:
        raise ItemsFailed(unanswered_message(summary), summary.unanswered)
