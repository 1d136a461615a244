"""The CLI is a package of thin command modules over `cascade.commands`, and a sweep folder has one
owner, `SweepDir`, as a run directory has `RunDir`: the shape the next command or sweep file is
added to, checked rather than described."""

from __future__ import annotations

import re
from pathlib import Path

import grimp
from typer.testing import CliRunner

from cascade.cli import app
from cascade.run import RunDir, SweepDir
from tests.conftest import MakeConfig
from tests.test_doses import DROPOUT, write_sweep

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "cascade" / "cli"
LIMIT = 400


def test_every_module_of_the_cli_is_short() -> None:
    lengths = {p.name: len(p.read_text(encoding="utf-8").splitlines()) for p in CLI.glob("*.py")}
    assert {"app.py", "printing.py", "run.py", "ablate.py", "judge.py"} <= set(lengths)
    assert {name: n for name, n in lengths.items() if n > LIMIT} == {}


def test_the_cli_imports_nothing_below_commands() -> None:
    graph = grimp.build_graph("cascade", cache_dir=None)
    below = []
    for module in sorted(m for m in graph.modules if m.startswith("cascade.cli")):
        for imported in graph.find_modules_directly_imported_by(module):
            if imported.startswith("cascade.") and not imported.startswith(
                ("cascade.cli", "cascade.commands")
            ):
                below.append(f"{module} -> {imported}")
    assert below == []


def test_python_m_cascade_cli_is_the_cascade_command() -> None:
    import runpy
    import sys

    saved = sys.argv
    sys.argv = ["cascade", "--help"]
    try:
        runpy.run_module("cascade.cli", run_name="__main__")
    except SystemExit as stop:
        assert stop.code == 0
    finally:
        sys.argv = saved


SWEEP_FILES = (
    "table.md",
    "table.csv",
    "flips.json",
    "sweep.json",
    "dose_response.csv",
    "dose_response.json",
)


def test_only_the_sweep_folder_module_names_a_sweep_folder_file() -> None:
    owner = ROOT / "cascade" / "run" / "sweepdir.py"
    # A file name as a whole string literal, or a path joined with the runs sub-folder.
    quoted = re.compile("[\"'](" + "|".join(re.escape(f) for f in SWEEP_FILES) + ")[\"']")
    runs = re.compile(r"/\s*[\"']runs[\"']")
    found = []
    for path in sorted((ROOT / "cascade").rglob("*.py")):
        if path == owner:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if (quoted.search(line) or runs.search(line)) and not line.lstrip().startswith("#"):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []


def test_a_sweep_folder_holds_what_its_owner_lists(tmp_path: Path, make_config: MakeConfig) -> None:
    path = write_sweep(tmp_path, make_config, [{**DROPOUT, "levels": [0.0, 0.5]}])

    result = CliRunner().invoke(app, ["ablate", str(path)])

    assert result.exit_code == 0, result.output
    folder = SweepDir(tmp_path / "sweep")
    written = {p.name for p in folder.path.iterdir() if p.is_file()}
    assert written == {p.name for p in folder.files()}
    assert {"table.md", "sweep.json", "dose_response.json", "report.html", "cascade.log"} <= written
    assert {p.name for p in folder.path.iterdir() if p.is_dir()} == {folder.runs_folder.name}
    runs = folder.run_dirs()
    assert [p.parent for p in runs] == [folder.runs_folder] * 3  # the base and two levels
    assert all(RunDir(p).finished() for p in runs)
    # `cues` over the sweep folder reads the same runs through the same owner.
    cues = CliRunner().invoke(app, ["cues", str(folder.path)])
    assert cues.exit_code == 0, cues.output
    assert all(RunDir(p).cue_files() for p in runs)


def test_a_folder_of_runs_gathered_by_hand_is_a_sweep_folder_too(
    tmp_path: Path, make_config: MakeConfig
) -> None:
    from cascade import commands

    made = commands.run(make_config(run__run_dir=str(tmp_path / "mine" / "one"))).run_dir

    assert SweepDir(tmp_path / "mine").run_dirs() == [made]
    assert SweepDir(tmp_path / "nothing").run_dirs() == []
