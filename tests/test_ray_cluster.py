"""The local Ray cluster the Ray executor's tests run on: actor pools run this checkout's code."""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import numpy as np
import pytest

import cascade
from tests.ray_cluster import import_ray


class WhereIsCascade:
    """An actor-pool stage that says which `cascade` its worker process imported."""

    def __init__(self) -> None:
        import cascade as imported

        self.file = imported.__file__
        self.pid = os.getpid()

    def __call__(self, batch: dict[str, np.ndarray[Any, Any]]) -> dict[str, np.ndarray[Any, Any]]:
        rows = len(batch["id"])
        return batch | {"cascade": np.array([self.file] * rows), "pid": np.full(rows, self.pid)}


def test_an_actor_pool_stage_imports_cascade_from_this_checkout(ray_cluster: Any) -> None:
    dataset = ray_cluster.data.from_items([{"id": i} for i in range(6)])
    rows = dataset.map_batches(WhereIsCascade, concurrency=2, batch_size=2).take_all()

    assert sorted(row["id"] for row in rows) == list(range(6))
    assert {row["cascade"] for row in rows} == {cascade.__file__}
    assert os.getpid() not in {row["pid"] for row in rows}  # it ran in worker processes


def test_without_ray_the_tests_skip_naming_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=re.escape("bash scripts/setup.sh --test")):
        import_ray()


def test_without_ray_the_tests_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the Ray tests"):
        import_ray()
