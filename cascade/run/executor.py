"""Executors: how the work a run is missing gets computed, chosen by name (`run.executor`).

The lifecycle of a run is defined once (`cascade.run.pipeline`): plan it, look up what its run
directory already answers, compute what is missing, settle and record each result, finalise.
An executor supplies only the middle step. It is registered by name in the one table of named
things (`cascade.core.registry`, table `executor`: "module:Class"), where a user's package can
add its own; every caller (a run, a sweep, the judge) gets it from `executor_by_name`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar

from cascade.core import ConfigError, registry
from cascade.run.answering import Answerer
from cascade.run.config import ComponentSpec, RunConfig, RunSpec
from cascade.run.job import Job


class Executor(ABC):
    """A named strategy for computing a run's missing work."""

    name: ClassVar[str]
    extra: ClassVar[str | None] = None
    """The extra that installs what it needs (`cascade list` says whether it is installed)."""
    requires: ClassVar[tuple[str, ...]] = ()
    """The modules it imports when used."""
    runs_agents: ClassVar[bool] = False
    """Whether it computes agent runs (a config with an `agent` section: `Runner.answer` runs
    the loop). A run it cannot compute is refused before any work (`refuse_agent`)."""
    shares_work: ClassVar[bool] = False
    """Whether runs executed together (a sweep's variations) are one job to it: each output
    computed once for all of them (`pipeline.execute_together`). Otherwise a sweep runs its
    variations one after the other, each with `pipeline.execute`."""

    def schedule(self, run: RunSpec) -> str:
        """The schedule it follows for a run with these settings (the plan shows it)."""
        return run.schedule

    def start(self, job: Job) -> None:  # noqa: B027  (a hook: most executors load nothing)
        """Before the job's first item: load and check what computes in this process, so that
        a component that cannot start fails the run in seconds."""

    @abstractmethod
    def compute(self, jobs: Sequence[Job]) -> None:
        """Compute every job's missing work and hand each result to its job (`Job.record`).

        Raises:
            CascadeError: a run-wide failure (a component or cluster that cannot start); the
                results recorded so far are kept.
            FailureRateExceeded: from `Job.record`, for a job alone past its limit.
        """

    @abstractmethod
    def answerer(self, spec: ComponentSpec, run: RunSpec) -> tuple[Answerer, int]:
        """How a judge (`spec`, built by the caller) answers its requests under this executor,
        and how many requests to hand it at once."""


def refuse_agent(executor: Executor, config: RunConfig) -> None:
    """Refuse, before any work, an agent run the executor cannot compute.

    Raises:
        ConfigError: one sentence naming the executor and what to do instead.
    """
    if config.agent is not None and not executor.runs_agents:
        raise ConfigError(
            f"run.executor={executor.name} does not run agent runs (configs with an `agent` "
            "section): run it with run.executor=local, which runs the agent loop in this "
            "process (every tool call and turn is cached, so a later run on any executor "
            "re-uses them)"
        )


def executor_by_name(name: str) -> Executor:
    """The executor registered under `name` (a "did you mean" error on a miss)."""
    cls = registry.resolve("executor", name)
    if not (isinstance(cls, type) and issubclass(cls, Executor)):
        raise ConfigError(
            f"executor {name!r} is registered as {registry.entry('executor', name).target}, "
            "which is not a cascade.run.Executor subclass"
        )
    return cls()
