"""A sweep folder: the run directory of every variation, the sweep's tables, its page and its log.

`SweepDir` is the one place that knows the folder's file names, as `RunDir` is for a run: the
sweep (`analysis.ablate`), its dose-response, its page (`report`), cue coverage over a sweep and
the CLI's log all go through it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cascade.core import logs, write_atomic
from cascade.run.rundir import CONFIG, REPORT_HTML, RESULTS, RunDir

RUNS = "runs"
TABLE_CSV = "table.csv"
TABLE_MD = "table.md"
FLIPS = "flips.json"
SWEEP_JSON = "sweep.json"
DOSE_CSV = "dose_response.csv"
DOSE_JSON = "dose_response.json"
FILES = (TABLE_MD, TABLE_CSV, FLIPS, SWEEP_JSON, DOSE_CSV, DOSE_JSON, REPORT_HTML, logs.LOG_FILE)
"""Every file a sweep writes beside its runs (the dose files only for a sweep with doses)."""


@dataclass(frozen=True)
class SweepDir:
    """The files of one sweep folder (`cascade ablate`)."""

    path: Path

    @property
    def runs_folder(self) -> Path:
        """Where the variations' run directories go (`run.output_dir` of each)."""
        return self.path / RUNS

    def run_dirs(self) -> list[Path]:
        """The run directories in the folder: those under `runs/`, else its own sub-folders
        that are runs (a folder of runs gathered by hand); empty when there are none."""
        for folder in (self.runs_folder, self.path):
            found = sorted(
                p for p in folder.glob("*") if p.is_dir() and RunDir(p).has(CONFIG, RESULTS)
            )
            if found:
                return found
        return []

    def has_record(self) -> bool:
        """Whether the folder holds a finished sweep's sweep.json."""
        return (self.path / SWEEP_JSON).is_file()

    def variations(self) -> dict[Path, str]:
        """Each variation's name by its run directory (resolved), from sweep.json; {} when the
        file is missing or cannot be read (its runs are still found by `run_dirs`)."""
        try:
            record = json.loads((self.path / SWEEP_JSON).read_text(encoding="utf-8"))
            return {Path(v["run_dir"]).resolve(): str(v["name"]) for v in record["variations"]}
        except (OSError, ValueError, KeyError, TypeError):
            return {}

    def files(self) -> list[Path]:
        """The sweep's own files that exist, in the order of `FILES`."""
        return [self.path / name for name in FILES if (self.path / name).is_file()]

    @property
    def log_path(self) -> Path:
        """cascade.log: what model libraries and engines printed during the sweep."""
        return self.path / logs.LOG_FILE

    @property
    def report_html_path(self) -> Path:
        return self.path / REPORT_HTML

    def write_report_html(self, page: str) -> Path:
        write_atomic(self.report_html_path, page)
        return self.report_html_path

    def write_tables(self, csv: str, markdown: str, flips: Mapping[str, Any]) -> None:
        """table.csv, table.md and flips.json: the results table and the flipped items."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path / TABLE_CSV, csv)
        write_atomic(self.path / TABLE_MD, markdown)
        write_atomic(self.path / FLIPS, _json_text(flips))

    def write_doses(self, csv: str, record: Mapping[str, Any]) -> None:
        """dose_response.csv and .json: the dose-response table of a sweep with doses."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path / DOSE_CSV, csv)
        write_atomic(self.path / DOSE_JSON, json.dumps(record, indent=2) + "\n")

    def write_record(self, record: Mapping[str, Any]) -> None:
        """sweep.json: the sweep's settings and every variation's run directory and summary."""
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomic(self.path / SWEEP_JSON, _json_text(record))


def _json_text(value: Mapping[str, Any]) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
