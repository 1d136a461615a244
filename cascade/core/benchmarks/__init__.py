"""Benchmarks, each one unit in a folder of its own here (`demo/`, `mmar/`, `mmau_test_mini/`:
its definition, its shipped data and their provenance), registered by one line in
`cascade.core.registry` (a package outside cascade: an entry point in `cascade.benchmarks`).
This module exports what a benchmark is built from and how the registered ones are found.
"""

from cascade.core.benchmarks.definition import (
    Benchmark,
    BenchmarkDefinition,
    OfficialRule,
    Prediction,
    PredictionsFile,
)
from cascade.core.benchmarks.files import RawRecord, read_records
from cascade.core.benchmarks.lookup import benchmark_by_name, benchmark_of_file
from cascade.core.benchmarks.spec import BenchmarkSpec
from cascade.core.benchmarks.token_set import official_words, token_set_match

__all__ = [
    "Benchmark",
    "BenchmarkDefinition",
    "BenchmarkSpec",
    "OfficialRule",
    "Prediction",
    "PredictionsFile",
    "RawRecord",
    "benchmark_by_name",
    "benchmark_of_file",
    "official_words",
    "read_records",
    "token_set_match",
]
