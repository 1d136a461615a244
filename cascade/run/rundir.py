"""A run directory: the resolved config, one result line per item and sample, predictions, metrics,
reports.

`RunDir` is the one place that knows the directory's file names and formats: every reader and
writer of a run's files (the pipeline, re-scoring, the judge, the report pages) goes through it.
Reading needs no lock; writing result lines happens inside the `with` block that holds it.

Result lines are appended and flushed as soon as items finish, and synced per batch; a run killed
mid-write leaves at most one partial last line, which the next run on the same directory drops
before resuming. One process at a time owns a run directory (an advisory lock).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml
from pydantic import ValidationError

from cascade.core import (
    Benchmark,
    CascadeError,
    ConfigError,
    Item,
    RawRecord,
    logs,
    read_text,
    read_yaml_mapping,
    write_atomic,
)
from cascade.run import config as configs
from cascade.run import plan
from cascade.run.config import RunConfig
from cascade.scoring import ScoringSpec, reasoning_before_answer

CONFIG = "config.yaml"
RESULTS = "results.jsonl"
PREDICTIONS = "predictions.json"
METRICS = "metrics.json"
SUMMARY = "summary.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
JUDGE_PREFIX = "judge-"
RUBRICS_PREFIX = "rubrics-"
CUES_PREFIX = "cues-"


def cues_name(measure: str) -> str:
    """The file of a run's cue coverage by one measure (`lexical`, `judge-<preset>`)."""
    return CUES_PREFIX + re.sub(r"[^A-Za-z0-9._-]+", "-", measure) + ".json"


def cue_files(path: Path) -> list[Path]:
    """The cue coverage files of a run directory, lexical first."""
    found = sorted(path.glob(f"{CUES_PREFIX}*.json"))
    return sorted(found, key=lambda p: p.name != cues_name("lexical"))


Samples = dict[str, dict[int, dict[str, Any]]]
"""Result lines by item id, then by sample index (`run.samples`; 0 for a single-answer run)."""


def read_samples(path: Path, *, repair: bool = False) -> Samples:
    """Every result line by item id and sample (the last line of an (id, sample) wins).

    A partial last line (a run killed while writing it) is ignored, and cut off the file when
    `repair` is set; damage anywhere else is an error naming the line.
    """
    if not path.is_file():
        return {}
    data = path.read_bytes()
    results: Samples = {}
    good_end = 0
    lines = data.split(b"\n")
    for number, line in enumerate(lines, start=1):
        is_last = number == len(lines)
        if not line.strip():
            good_end += len(line) + (0 if is_last else 1)
            continue
        try:
            record = json.loads(line)
            if is_last:
                raise ValueError("line not terminated")
        except ValueError as error:
            if is_last or all(not rest.strip() for rest in lines[number:]):
                break
            raise CascadeError(f"{path} line {number} is damaged ({error})") from None
        results.setdefault(record["id"], {})[int(record.get("sample", 0))] = record
        good_end += len(line) + 1
    if repair and good_end < len(data):
        with path.open("r+b") as f:
            f.truncate(good_end)
    return results


def first_samples(samples: Samples) -> dict[str, dict[str, Any]]:
    """One line per item: its lowest sample (the only one of a single-answer run)."""
    return {i: by_sample[min(by_sample)] for i, by_sample in samples.items() if by_sample}


def read_results(path: Path, *, repair: bool = False) -> dict[str, dict[str, Any]]:
    """Result lines by item id: each item's first sample (`read_samples` has them all)."""
    return first_samples(read_samples(path, repair=repair))


def predictions_of(
    benchmark: Benchmark, results: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """predictions.json's records: each item with a result, in its benchmark's official format
    (the benchmark's writer, `BenchmarkDefinition.prediction_record`)."""
    return [
        benchmark.definition.prediction_record(
            item,
            results[item.id]["answer_prediction"],
            # A model without a separate trace reasons in its answer: a judge reads that reasoning.
            results[item.id].get("reasoning")
            or reasoning_before_answer(results[item.id].get("raw_answer") or ""),
        )
        for item in benchmark.items
        if item.id in results
    ]


class RunFileDamaged(CascadeError):
    """A file of a run directory that cannot be read (not UTF-8, not JSON or YAML, cut off)."""


REBUILD = (
    "run the run's command again (with every item answered it only rewrites the run's "
    "predictions, metrics, summary and reports)"
)
"""What rebuilds the files a run writes when it finishes."""


class RunDir:
    """An open run directory, locked for the lifetime of the `with` block."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: IO[str] | None = None
        self._results: IO[str] | None = None

    def __enter__(self) -> RunDir:
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock = (self.path / ".lock").open("w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise CascadeError(
                f"run directory {self.path} is in use by another cascade process"
            ) from None
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._results is not None:
            self.sync()
            self._results.close()
            self._results = None
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    @property
    def results_path(self) -> Path:
        return self.path / RESULTS

    def check_config(self, config: Mapping[str, Any], fingerprint: str) -> None:
        """Write the resolved config, or check that a resumed run has the same one."""
        path = self.path / CONFIG
        if path.is_file():
            previous = self.stored_config()
            if previous.get("fingerprint") != fingerprint:
                raise CascadeError(
                    f"run directory {self.path} holds a run with another config "
                    f"(fingerprint {previous.get('fingerprint')} vs {fingerprint}); "
                    "choose another --run-dir"
                )
        write_atomic(
            path,
            yaml.safe_dump(
                {"fingerprint": fingerprint, "config": dict(config)},
                sort_keys=False,
                allow_unicode=True,
            ),
        )

    def load_results(self) -> dict[str, dict[str, Any]]:
        return read_results(self.results_path, repair=True)

    def load_samples(self) -> Samples:
        return read_samples(self.results_path, repair=True)

    def append(self, lines: Iterable[Mapping[str, Any]]) -> None:
        """Append result lines, flushed at once (synced to disk by `sync`)."""
        if self._results is None:
            self._results = self.results_path.open("a", encoding="utf-8")
        for line in lines:
            self._results.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._results.flush()

    def sync(self) -> None:
        if self._results is not None:
            self._results.flush()
            os.fsync(self._results.fileno())

    def compact(self, order: Sequence[str]) -> Samples:
        """Rewrite the results with one line per item and sample, in benchmark then sample
        order."""
        if self._results is not None:
            self.sync()
            self._results.close()
            self._results = None
        results = read_samples(self.results_path)
        kept = {i: dict(sorted(results[i].items())) for i in order if i in results}
        lines = [line for by_sample in kept.values() for line in by_sample.values()]
        write_atomic(
            self.results_path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines)
        )
        return kept

    # --- reading (no lock needed) ---------------------------------------------------------------

    def has(self, *names: str) -> bool:
        """Whether every named file exists."""
        return all((self.path / name).is_file() for name in names)

    def require(self, *names: str, what: str = "a run directory") -> None:
        """Raise unless every named file exists (`what` the directory must be, for the message)."""
        if not self.has(*names):
            raise CascadeError(f"{self.path} is not {what} (no {' or '.join(names)})")

    def stored_config(self) -> dict[str, Any]:
        """config.yaml as stored: `fingerprint` and the resolved `config` ({} without the file)."""
        path = self.path / CONFIG
        if not path.is_file():
            return {}
        try:
            return read_yaml_mapping(path, kind="run config", error=RunFileDamaged)
        except RunFileDamaged as error:
            raise RunFileDamaged(
                f"{error}. The run directory's config.yaml is damaged: cascade cannot tell which "
                "config made its results. Restore the file, or run the config again in another "
                "directory (--run-dir)"
            ) from None

    def config(self) -> RunConfig:
        """The resolved config the run was made with."""
        return configs.validate(
            self.stored_config().get("config") or {}, source=str(self.path / CONFIG)
        )

    def items(self, config: RunConfig | None = None) -> list[Item]:
        """The items of the run's benchmark (with metadata and audio paths), in its order."""
        config = config or self.config()
        return list(plan.load_benchmark(config.benchmark, need_audio=False).items)

    def scoring(self) -> ScoringSpec | None:
        """The scoring settings the run was made with (None: it has no config.yaml)."""
        path = self.path / CONFIG
        if not path.is_file():
            return None
        try:
            return ScoringSpec.model_validate(
                (self.stored_config().get("config") or {}).get("scoring") or {}
            )
        except (yaml.YAMLError, AttributeError, ValidationError) as error:
            raise ConfigError(
                f"{path}: its `scoring` section cannot be read ({str(error).splitlines()[0]}); "
                "fix the file or re-run the config"
            ) from None

    def results(self) -> dict[str, dict[str, Any]]:
        """Result lines by item id (each item's first sample), without repairing a partial last
        line."""
        return read_results(self.results_path)

    def samples(self) -> Samples:
        """Every result line by item id and sample, without repairing a partial last line."""
        return read_samples(self.results_path)

    def predictions(self) -> list[RawRecord]:
        """predictions.json: one record per answered item, in the benchmark's own format.

        Raises:
            RunFileDamaged: the file is not a JSON list of objects (`cascade score RUN` then
                rebuilds it from results.jsonl).
        """
        records = self._read_json(PREDICTIONS, fix="")
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise RunFileDamaged(f"{self.predictions_path}: not a list of objects, one per item")
        return records

    @property
    def predictions_path(self) -> Path:
        return self.path / PREDICTIONS

    def metrics(self) -> dict[str, Any]:
        return self._read_mapping(METRICS)

    def summary(self) -> dict[str, Any]:
        """summary.json ({} when the run has none)."""
        return self._read_mapping(SUMMARY) if (self.path / SUMMARY).is_file() else {}

    def finished(self) -> bool:
        """Whether the directory holds what the run's reports are rendered from."""
        return (self.path / METRICS).is_file() and (self.path / SUMMARY).is_file()

    def finished_at(self) -> float | None:
        """When the run last finished (summary.json's time, else metrics.json's), as a POSIX
        timestamp; None when it never finished."""
        for name in (SUMMARY, METRICS):
            if (self.path / name).is_file():
                return (self.path / name).stat().st_mtime
        return None

    def report_html(self) -> Path | None:
        """report.html, when the run has one."""
        return self.report_html_path if self.report_html_path.is_file() else None

    def judge_records(self) -> list[tuple[str, dict[str, Any]]]:
        """(file name, record) of every judge that scored the run, by file name."""
        return [
            (path.name, self._read_mapping(path.name))
            for path in sorted(self.path.glob(f"{JUDGE_PREFIX}*.json"))
        ]

    def rubrics_files(self, judge: str) -> dict[str, Path]:
        """MMAR-Rubrics by one judge: `jsonl` (one line per evaluated item, the official
        script's output format) and `json` (the totals)."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", judge)
        return {ext: self.path / f"{RUBRICS_PREFIX}{safe}.{ext}" for ext in ("jsonl", "json")}

    def rubrics_records(self) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """(totals, evaluated lines) of every judge that scored the run by MMAR-Rubrics."""
        found = []
        for path in sorted(self.path.glob(f"{RUBRICS_PREFIX}*.json")):
            summary = json.loads(path.read_text(encoding="utf-8"))
            lines_path = path.with_suffix(".jsonl")
            lines = []
            if lines_path.is_file():
                for text in lines_path.read_text(encoding="utf-8").split("\n"):
                    with contextlib.suppress(json.JSONDecodeError):
                        lines.append(json.loads(text))
            found.append((summary, lines))
        return found

    def write_rubrics_summary(self, judge: str, summary: Mapping[str, Any]) -> Path:
        """The totals of MMAR-Rubrics by `judge` (beside its lines, `rubrics_files`)."""
        path = self.rubrics_files(judge)["json"]
        write_atomic(path, _json_text(summary))
        return path

    def cue_files(self) -> list[Path]:
        """The cue coverage files of the run, lexical first."""
        return cue_files(self.path)

    def read_cues(self, name: str) -> dict[str, Any]:
        """One cue coverage file by its name (from `cue_files`); raises OSError or
        RunFileDamaged when it cannot be read."""
        return self._read_mapping(name)

    def _read_mapping(self, name: str) -> dict[str, Any]:
        value = self._read_json(name)
        if not isinstance(value, dict):
            raise RunFileDamaged(f"{self.path / name}: not a JSON object; {REBUILD}")
        return value

    def _read_json(self, name: str, fix: str = REBUILD) -> Any:
        """A JSON file of the run; RunFileDamaged, naming it (and `fix`, when given), when it
        cannot be read as such."""
        path = self.path / name
        text = read_text(path, kind="run file", error=RunFileDamaged)
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise RunFileDamaged(
                f"{path} line {error.lineno}: not valid JSON ({error.msg}; is it cut off?)"
                + (f"; {fix}" if fix else "")
            ) from None

    # --- writing the finished run's files ----------------------------------------------------

    @property
    def report_html_path(self) -> Path:
        return self.path / REPORT_HTML

    @property
    def log_path(self) -> Path:
        return self.path / logs.LOG_FILE

    def write_predictions(self, records: Sequence[Mapping[str, Any]]) -> None:
        self._write_json(PREDICTIONS, list(records))

    def write_metrics(self, metrics: Mapping[str, Any]) -> Path:
        return self._write_json(METRICS, metrics)

    def write_summary(self, summary: Mapping[str, Any]) -> None:
        self._write_json(SUMMARY, summary)

    def write_report_md(self, text: str) -> Path:
        path = self.path / REPORT_MD
        write_atomic(path, text)
        return path

    def write_report_html(self, parts: Iterable[str]) -> Path:
        write_atomic(self.report_html_path, parts)
        return self.report_html_path

    def judge_files(self, judge: str) -> dict[str, Path]:
        """judge-<name>.json, .md and .csv of one judge (by extension)."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", judge)
        return {ext: self.path / f"{JUDGE_PREFIX}{safe}.{ext}" for ext in ("json", "md", "csv")}

    def write_judge(
        self, judge: str, record: Mapping[str, Any], markdown: str, csv: str
    ) -> dict[str, Path]:
        """One judge's record, its markdown table and its CSV table."""
        files = self.judge_files(judge)
        write_atomic(files["json"], _json_text(record))
        write_atomic(files["md"], markdown)
        write_atomic(files["csv"], csv)
        return files

    def write_cues(self, measure: str, record: Any) -> Path:
        """Write the run's cue coverage by `measure` (`cascade cues`); returns the file."""
        return self._write_json(cues_name(measure), record)

    def _write_json(self, name: str, value: Any) -> Path:
        path = self.path / name
        write_atomic(path, _json_text(value))
        return path


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"
