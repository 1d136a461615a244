"""Every registered name resolves to an importable object of the right role."""

from __future__ import annotations

import pytest

from cascade.core import BenchmarkDefinition, Captioner, Reasoner, registry
from cascade.run import Executor
from cascade.scoring import Scorer

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
    if table == "scorer":  # a row of the table of scorers, not a class
        assert isinstance(obj, Scorer)
    else:
        assert issubclass(obj, ROLES[table])
    assert obj.name == name
