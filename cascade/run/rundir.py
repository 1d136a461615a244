"""A run directory: the resolved config, one result line per item and sample, predictions, metrics,
reports.

Result lines are appended and flushed as soon as items finish, and synced per batch; a run killed
mid-write leaves at most one partial last line, which the next run on the same directory drops
before resuming. One process at a time owns a run directory (an advisory lock).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import yaml

from cascade.core import CascadeError, write_atomic

CONFIG = "config.yaml"
RESULTS = "results.jsonl"
PREDICTIONS = "predictions.json"
METRICS = "metrics.json"
SUMMARY = "summary.json"
REPORT_MD = "report.md"
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
            previous = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
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

    def write_json(self, name: str, value: Any) -> None:
        write_atomic(self.path / name, json.dumps(value, ensure_ascii=False, indent=2) + "\n")

    def write_text(self, name: str, text: str) -> None:
        write_atomic(self.path / name, text)

    def write_cues(self, measure: str, record: Any) -> Path:
        """Write the run's cue coverage by `measure` (`cascade cues`); returns the file."""
        name = cues_name(measure)
        self.write_json(name, record)
        return self.path / name
