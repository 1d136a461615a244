"""Re-score without a model: a run directory, or a predictions file in an official format."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cascade.core import (
    CascadeError,
    Item,
    RawRecord,
    benchmark_by_name,
    benchmark_of_file,
    read_records,
)
from cascade.run.answering import answered
from cascade.run.plan import load_benchmark
from cascade.run.rundir import PREDICTIONS, RESULTS, RunDir, Samples, predictions_of
from cascade.scoring import ScoringSpec, majority_results


@dataclass(frozen=True)
class Scorable:
    """Items and their stored answers, ready for `compute_metrics`."""

    name: str
    benchmark: str
    items: tuple[Item, ...]
    results: Mapping[str, Mapping[str, Any]]
    missing_prediction: tuple[str, ...] = ()
    """Items of a predictions file without a prediction (skipped, as the official scorer does)."""
    summary: Mapping[str, Any] = field(default_factory=dict)
    scoring: ScoringSpec | None = None
    """How the run was scored (its config.yaml's `scoring`); None for a predictions file, which
    is scored with the defaults. Every reader uses it unless the command line overrides it."""
    samples: Samples | None = None
    """Every result line by item and sample, for a run directory (`results` then holds each
    item's majority-vote line when an item has several samples); None for a predictions file."""
    notices: tuple[str, ...] = ()
    """What the reader must know about how the run was read (a file rebuilt)."""

    def unanswered(self) -> list[str]:
        """Items with a failed or empty answer (of any of their samples), in item order."""
        lines: Mapping[str, Mapping[int, Mapping[str, Any]]] = self.samples or {
            i: {0: r} for i, r in self.results.items()
        }
        return [i for i, by_sample in lines.items() if not all(map(answered, by_sample.values()))]


Meta = Mapping[str, Mapping[str, Any]]
"""Benchmark records by id, whose fields fill and override a predictions file's (the official
rubric script's `--meta`)."""


def _with_meta(records: list[RawRecord], meta: Meta | None) -> list[RawRecord]:
    if not meta:
        return records
    return [{**r, **meta.get(str(r.get("id")), {})} for r in records]


def from_predictions(path: Path, meta: Meta | None = None) -> Scorable:
    """A predictions file in the official format of a registered benchmark (MMAR's, MMAU's, or
    a package's), read by that benchmark (`BenchmarkDefinition.read_predictions`).

    Each item's prediction is scored as the official script scores it: `official` judges the
    prediction verbatim, and the strict and lenient extractions are read from the same text (see
    cascade.scoring.rules). An item without the prediction key is skipped, as the official
    scripts do, and listed in `missing_prediction`.

    Raises:
        BenchmarkError: the file cannot be read, is in no benchmark's format (or in several),
            holds no item, or no item has a prediction (or one that is not a string).
    """
    records = _with_meta(read_records(path), meta)
    read = benchmark_of_file(records, path).read_predictions(path, records)
    results = {
        p.item.id: {
            "id": p.item.id,
            "raw_answer": p.text,
            "reasoning": p.thinking,
            "verbatim_prediction": True,
        }
        for p in read.predictions
    }
    items = tuple(p.item for p in read.predictions)
    return Scorable(path.stem, read.benchmark, items, results, read.missing)


def from_run(run_dir: Path, meta: Meta | None = None) -> Scorable:
    """A run directory: items from its predictions file (with `meta` as in `from_predictions`),
    answers and errors from its results.

    A damaged predictions.json (cut off, not UTF-8, not the benchmark's format) is rebuilt from
    the run's own results.jsonl and its benchmark's metadata, written again, and said in
    `notices`.
    """
    run = RunDir(run_dir)
    run.require(PREDICTIONS, RESULTS, what="a finished run directory")
    samples = run.samples()
    summary = run.summary()
    notices: list[str] = []
    # The run names its benchmark; a missing plug-in is said as such, never as damage.
    named = benchmark_by_name(summary["benchmark"]) if summary.get("benchmark") else None
    try:
        records = _with_meta(run.predictions(), meta)
        definition = named or benchmark_of_file(records, run.predictions_path)
        benchmark, items = definition.name, definition.items(records, None)
    except CascadeError as damage:
        benchmark, items = _rebuild_predictions(run, samples, damage)
        notices.append(
            f"predictions.json was damaged ({damage}); it was rebuilt from the run's "
            "results.jsonl and its benchmark's metadata, and written again"
        )
    results = majority_results(items, samples)
    return Scorable(
        summary.get("name", run_dir.name),
        benchmark,
        tuple(i for i in items if i.id in results),
        results,
        summary=summary,
        scoring=run.scoring(),
        samples=samples,
        notices=tuple(notices),
    )


def _rebuild_predictions(
    run: RunDir, samples: Samples, damage: CascadeError
) -> tuple[str, list[Item]]:
    """The run's benchmark name and items from its config.yaml and the benchmark's metadata;
    predictions.json written again from them and results.jsonl, as the run writes it."""
    try:
        config = run.config()
        benchmark = load_benchmark(config.benchmark, need_audio=False)
    except CascadeError as error:
        raise CascadeError(
            f"{run.predictions_path} is damaged ({damage}) and cannot be rebuilt from "
            f"results.jsonl: {error}"
        ) from None
    items = list(benchmark.items)
    results = majority_results(items, samples)
    with run:  # the lock: never beside a run writing the same directory
        run.write_predictions(predictions_of(benchmark, results))
    return benchmark.name, items


def load(path: Path, meta: Meta | None = None) -> Scorable:
    """A run directory or a predictions file (`meta`: see `from_predictions`)."""
    if path.is_dir():
        return from_run(path, meta)
    if path.is_file():
        return from_predictions(path, meta)
    raise CascadeError(f"{path}: no such run directory or predictions file")
