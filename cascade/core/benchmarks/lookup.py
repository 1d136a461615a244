"""The registered benchmarks: one by its name, and the one a predictions file belongs to."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cascade.core import registry
from cascade.core.benchmarks.definition import BenchmarkDefinition
from cascade.core.benchmarks.files import RawRecord
from cascade.core.errors import BenchmarkError, RegistryError


def benchmark_by_name(name: str) -> BenchmarkDefinition:
    """The benchmark registered under `name` (a "did you mean" error on a miss).

    Raises:
        RegistryError: no such benchmark, or one registered as something else than a
            `BenchmarkDefinition` subclass (naming the package that registered it).
    """
    cls = registry.resolve("benchmark", name)
    if not (isinstance(cls, type) and issubclass(cls, BenchmarkDefinition)):
        raise RegistryError(
            f"benchmark {name!r} is registered as {registry.entry('benchmark', name).label}, "
            "which is not a cascade.core.BenchmarkDefinition subclass"
        )
    return cls()


def benchmark_of_file(records: Sequence[RawRecord], source: Path) -> BenchmarkDefinition:
    """The one registered benchmark whose format the records of a predictions file are in.

    Raises:
        BenchmarkError: no benchmark claims the file, or more than one does (naming them).
    """
    definitions = [benchmark_by_name(n) for n in registry.names("benchmark")]
    claiming = [d for d in definitions if d.claims(records)]
    if len(claiming) > 1:
        raise BenchmarkError(
            f"{source}: in the format of several benchmarks "
            f"({', '.join(d.name for d in claiming)}); their packages must tell their formats "
            "apart (`BenchmarkDefinition.claims`)"
        )
    if not claiming:
        hints = [d.format_hint for d in definitions if d.format_hint]
        raise BenchmarkError(f"{source}: neither {' nor '.join(hints)}")
    return claiming[0]
