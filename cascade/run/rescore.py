"""Re-score without a model: a run directory, or a predictions file in an official format."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cascade.core import (
    BenchmarkError,
    CascadeError,
    Item,
    RawRecord,
    build_items,
    mmar_fields,
    mmau_fields,
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


def _format_of(records: list[RawRecord], source: Path) -> tuple[str, str, Any]:
    """(benchmark, prediction key, field adapter) from the records' own fields."""
    keys = set().union(*(r.keys() for r in records)) if records else set()
    if "modality" in keys:
        return "mmar", "answer_prediction", mmar_fields
    if "task" in keys:
        key = "model_output" if "model_output" in keys else "model_prediction"
        return "mmau-test-mini", key, mmau_fields
    raise BenchmarkError(
        f"{source}: neither MMAR's format (a `modality` field) nor MMAU's (a `task` field)"
    )


def _prediction_key(benchmark: str, records: list[RawRecord], path: Path) -> str:
    """The key holding the predictions: the one the benchmark's official script reads (MMAR
    `answer_prediction`, MMAU `model_output`), or the other spelling the benchmark's documents use
    (`model_output` in MMAR files, `model_prediction` in MMAU's README) when no item has it."""
    mmar = benchmark == "mmar"
    keys = ("answer_prediction", "model_output") if mmar else ("model_output", "model_prediction")
    for key in keys:
        if any(key in r for r in records):
            return key
    raise BenchmarkError(
        f"{path}: no item has a prediction; each item of a {benchmark} predictions file "
        f"needs `{keys[0]}` (the key the official scorer reads; "
        f"{' or '.join(f'`{k}`' for k in keys[1:])} also accepted)"
    )


Meta = Mapping[str, Mapping[str, Any]]
"""Benchmark records by id, whose fields fill and override a predictions file's (the official
rubric script's `--meta`)."""


def _with_meta(records: list[RawRecord], meta: Meta | None) -> list[RawRecord]:
    if not meta:
        return records
    return [{**r, **meta.get(str(r.get("id")), {})} for r in records]


def from_predictions(path: Path, meta: Meta | None = None) -> Scorable:
    """A predictions file in MMAR's or MMAU's format (its fields filled and overridden by
    `meta`'s record of the same id, when given).

    Each item's prediction is scored as the official script scores it: `official` judges the
    prediction verbatim, and the strict and lenient extractions are read from the same text (see
    cascade.scoring.rules). An item without the prediction key is skipped, as the official
    scripts do, and listed in `missing_prediction`.

    Raises:
        BenchmarkError: the file cannot be read, is in neither format, holds no item, or no item
            has a prediction (or one that is not a string).
    """
    records = _with_meta(read_records(path), meta)
    benchmark, _, adapter = _format_of(records, path)
    key = _prediction_key(benchmark, records, path)
    items = build_items(records, benchmark=benchmark, adapter=adapter, audio_root=None)
    results: dict[str, dict[str, Any]] = {}
    missing = []
    for number, (item, record) in enumerate(zip(items, records, strict=True), start=1):
        if key not in record:
            missing.append(item.id)
            continue
        prediction = record[key]
        if not isinstance(prediction, str):
            raise BenchmarkError(
                f"{path} item {number} ({item.id}): `{key}` is {type(prediction).__name__}, "
                "not a string; write the model's answer text there"
            )
        results[item.id] = {
            "id": item.id,
            "raw_answer": prediction,
            "reasoning": record.get("thinking_prediction") or "",
            "verbatim_prediction": True,
        }
    kept = tuple(i for i in items if i.id in results)
    return Scorable(path.stem, benchmark, kept, results, tuple(missing))


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
    try:
        records = _with_meta(run.predictions(), meta)
        benchmark, _, adapter = _format_of(records, run.predictions_path)
        items = build_items(records, benchmark=benchmark, adapter=adapter, audio_root=None)
    except CascadeError as damage:
        benchmark, items = _rebuild_predictions(run, samples, damage)
        notices.append(
            f"predictions.json was damaged ({damage}); it was rebuilt from the run's "
            "results.jsonl and its benchmark's metadata, and written again"
        )
    results = majority_results(items, samples)
    if summary.get("benchmark"):
        benchmark = summary["benchmark"]
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
        run.write_predictions(predictions_of(items, results, benchmark.prediction_key))
    return benchmark.name, items


def load(path: Path, meta: Meta | None = None) -> Scorable:
    """A run directory or a predictions file (`meta`: see `from_predictions`)."""
    if path.is_dir():
        return from_run(path, meta)
    if path.is_file():
        return from_predictions(path, meta)
    raise CascadeError(f"{path}: no such run directory or predictions file")
