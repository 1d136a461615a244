"""An executor from outside cascade, as a user's package writes one: it computes each item's
missing work on its own (one item a batch, in this process) from cascade's public steps. A
package registers it by an entry point in the group `cascade.executors`; the tests of the seam
write that package's metadata on the spot (tests/plugin_dist.py) and run it through the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from cascade.run import (
    Answerer,
    ComponentSpec,
    Executor,
    FrontendBatch,
    Job,
    RunSpec,
    answer,
    answered_result,
    run_stages,
)

NAME = "one-at-a-time"
COMPUTED: list[str] = []
"""The items this executor computed, in order (what the tests check it did)."""


class OneAtATime(Executor):
    """Each item alone: its front-end, then its answers, then its result lines."""

    name: ClassVar[str] = NAME

    def schedule(self, run: RunSpec) -> str:
        return "sequential"

    def compute(self, jobs: Sequence[Job]) -> None:
        for job in jobs:
            runner, counts = job.runner, job.summary.frontend
            for item in job.todo:
                before = counts.model_seconds
                clipped, audio_errors = runner.clips([item])
                records = run_stages(clipped, runner.stages, runner.cache, counts)
                seconds = counts.model_seconds - before
                front = FrontendBatch.assemble(
                    records, audio_errors, runner.stages, counts, seconds
                )
                failed, requests = runner.prepare([item], front, job.pending)
                answers = answer(
                    [p.request for p in requests],
                    runner.reasoner,
                    runner.cache,
                    job.summary.reasoner,
                )
                COMPUTED.append(item.id)
                job.record(
                    [
                        *failed,
                        *(
                            answered_result(p, a, front, 0.0)
                            for p, a in zip(requests, answers, strict=True)
                        ),
                    ]
                )

    def answerer(self, spec: ComponentSpec, run: RunSpec) -> tuple[Answerer, int]:
        return answer, 1
