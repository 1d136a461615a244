"""Every registered name resolves to an importable object of the right role."""

from __future__ import annotations

import pytest

from cascade.core import BenchmarkDefinition, Captioner, Reasoner, registry
from cascade.run import Executor

ROLES = {
    "captioner": Captioner,
    "reasoner": Reasoner,
    "benchmark": BenchmarkDefinition,
    "executor": Executor,
}


@pytest.mark.parametrize(
    ("table", "name"),
    [(t, n) for t in registry.TABLES for n in registry.names(t)],  # type: ignore[arg-type]
)
def test_entry_resolves(table: registry.Table, name: str) -> None:
    obj = registry.resolve(table, name)
    if table in ROLES:
        assert issubclass(obj, ROLES[table])
        assert obj.name == name
    else:
        assert callable(obj)
