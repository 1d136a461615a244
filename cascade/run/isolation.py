"""Batches whose failures stay with their item: the one rule the front-end and the reasoner share.

A component gets a whole batch; if the call raises, the batch is retried item by item so that one
bad clip or request fails alone and its neighbours still get their outputs. A `CascadeError` is a
verdict about the run (a misconfigured component, a broken contract), not about one item: it is
never isolated but stops the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from cascade.core import CascadeError

Input = TypeVar("Input")
Output = TypeVar("Output")
Outcome = Literal["computed", "reused", "failed"]


@dataclass
class Counts:
    """What a stage computed versus re-used (from the cache) or failed, and the time spent
    inside components; per front-end stage label in `by_stage` when counted with one."""

    computed: int = 0
    reused: int = 0
    failed: int = 0
    model_seconds: float = 0.0
    by_stage: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, stage: str, outcome: Outcome) -> None:
        bucket = self.by_stage.setdefault(stage, {"computed": 0, "reused": 0, "failed": 0})
        bucket[outcome] += 1
        setattr(self, outcome, getattr(self, outcome) + 1)

    def tally(self, ok: bool, *, reused: bool = False, stage: str | None = None) -> None:
        """Count one output (under its front-end `stage` label, if any): failed when it
        failed, else re-used (from the cache, or another run of a sweep that computed it) or
        computed. The one rule both executors count by."""
        outcome: Outcome = "failed" if not ok else "reused" if reused else "computed"
        if stage is not None:
            self.add(stage, outcome)
        else:
            setattr(self, outcome, getattr(self, outcome) + 1)


def run_isolated(
    call: Callable[[Sequence[Input]], Sequence[Output]],
    inputs: Sequence[Input],
    *,
    mismatch: Callable[[Sequence[Input], Sequence[Output]], str | None],
    failed: Callable[[Input, str, float], Output],
) -> list[Output]:
    """`call(inputs)`, one output per input in order; a batch that raises is retried item by item.

    Args:
        call: the component's batch call.
        inputs: the batch.
        mismatch: why the outputs do not answer the inputs one for one (a `CascadeError`), or None.
        failed: the output standing for an input whose own call raised, from the input, the
            error ("Kind: message") and the seconds the failed call took.
    """
    started = time.perf_counter()
    try:
        outputs = list(call(inputs))
    except CascadeError:
        raise
    except Exception as error:
        if len(inputs) == 1:
            message = f"{type(error).__name__}: {error}"
            return [failed(inputs[0], message, time.perf_counter() - started)]
        return [
            output
            for single in inputs
            for output in run_isolated(call, [single], mismatch=mismatch, failed=failed)
        ]
    problem = mismatch(inputs, outputs)
    if problem is not None:
        raise CascadeError(problem)
    return outputs
