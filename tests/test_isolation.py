"""One rule for failures inside a batch, shared by the front-end and the reasoner: a batch that
raises is retried item by item, so only the culprit fails (with its error); a CascadeError, or
outputs that do not answer the inputs one for one, stop the run instead."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cascade.core import CascadeError
from cascade.run import run_isolated


def no_mismatch(asked: Sequence[int], outputs: Sequence[str]) -> str | None:
    return None if len(asked) == len(outputs) else "wrong count"


def test_a_raising_batch_is_retried_item_by_item_and_only_the_culprit_fails() -> None:
    calls: list[list[int]] = []

    def call(batch: Sequence[int]) -> list[str]:
        calls.append(list(batch))
        if 3 in batch:
            raise ValueError("bad clip")
        return [f"ok {n}" for n in batch]

    outputs = run_isolated(
        call,
        [1, 2, 3, 4],
        mismatch=no_mismatch,
        failed=lambda n, message, seconds: f"failed {n}: {message}",
    )

    assert outputs == ["ok 1", "ok 2", "failed 3: ValueError: bad clip", "ok 4"]
    assert calls == [[1, 2, 3, 4], [1], [2], [3], [4]]


def test_a_cascade_error_is_never_isolated() -> None:
    def call(batch: Sequence[int]) -> list[str]:
        raise CascadeError("misconfigured")

    with pytest.raises(CascadeError, match="misconfigured"):
        run_isolated(call, [1, 2], mismatch=no_mismatch, failed=lambda *a: "failed")


def test_outputs_that_do_not_match_the_inputs_stop_the_run() -> None:
    with pytest.raises(CascadeError, match="wrong count"):
        run_isolated(lambda b: ["one"], [1, 2], mismatch=no_mismatch, failed=lambda *a: "x")
