"""A run directory has one owner: `RunDir` alone knows its file names and formats, and every
reader and writer (the pipeline, `score`, the judge, the report pages) goes through it, so the
files `score --output` writes read back exactly like a run's own."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from cascade import commands
from cascade.cli import app
from cascade.run import RunDir
from tests.conftest import MakeConfig

ROOT = Path(__file__).resolve().parent.parent
RUN_FILES = (
    "config.yaml",
    "results.jsonl",
    "predictions.json",
    "metrics.json",
    "summary.json",
    "report.md",
    "report.html",
)
NAMES = ("CONFIG", "RESULTS", "PREDICTIONS", "METRICS", "SUMMARY", "REPORT_MD", "REPORT_HTML")


def test_only_the_run_directory_module_names_a_run_directory_file() -> None:
    owner = ROOT / "cascade" / "run" / "rundir.py"
    # A file name as a whole string literal (not prose mentioning it), a judge file's pattern,
    # or a path joined with one of the name constants.
    quoted = re.compile("[\"'](" + "|".join(re.escape(f) for f in RUN_FILES) + ")[\"']")
    judge = re.compile("[\"']judge-[*{]")
    joined = re.compile(r"/\s*(" + "|".join(NAMES) + r")\b")
    found = []
    for path in sorted((ROOT / "cascade").rglob("*.py")):
        if path == owner:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if any(
                p.search(line) for p in (quoted, judge, joined)
            ) and not line.lstrip().startswith("#"):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    # The sweep's own page (a sweep folder, not a run directory), named by the sweep folder's
    # owner, is the one allowed exception.
    found = [
        f for f in found if not (f.startswith("cascade/run/sweepdir.py:") and "REPORT_HTML" in f)
    ]
    assert found == []


def test_score_output_is_read_back_like_a_run(make_config: MakeConfig, tmp_path: Path) -> None:
    made = tmp_path / "run"
    commands.run(make_config(run__run_dir=str(made)))
    output = tmp_path / "rescored"

    result = CliRunner().invoke(app, ["score", str(made), "--output", str(output)])

    assert result.exit_code == 0, result.output
    run, rescored = RunDir(made), RunDir(output)
    assert rescored.metrics()["scorers"] == run.metrics()["scorers"]
    # One format for one artifact: the same writer, byte for byte the same layout.
    written = rescored.path / "metrics.json"
    assert written.read_text(encoding="utf-8").endswith("}\n")
    assert (rescored.path / "report.md").is_file()


def test_reading_a_run_needs_no_lock(make_config: MakeConfig, tmp_path: Path) -> None:
    made = tmp_path / "run"
    commands.run(make_config(run__run_dir=str(made)))

    with RunDir(made) as held:
        reader = RunDir(made)
        assert reader.finished()
        assert set(reader.results()) == set(held.load_results())
        assert reader.config().name == reader.summary()["name"]
        assert reader.scoring() == reader.config().scoring
        assert [p["id"] for p in reader.predictions()] == list(reader.results())
