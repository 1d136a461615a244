"""A run loads and checks every component before its first item, and keeps third-party output
(library logs, engine processes, C-level noise) in the run's cascade.log, off the terminal."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cascade import commands
from cascade.cli import app
from cascade.core import ComponentError, StageInput, StageOutput, logs
from cascade.run import pipeline
from cascade.testing import ScriptedCaptioner, ScriptedReasoner
from tests.conftest import MakeConfig

runner = CliRunner()
ENGINE_NOISE = "INFO engine core: NUMA binding, tcmalloc not in LD_PRELOAD"


def config_file(make_config: MakeConfig, tmp_path: Path, **overrides: object) -> Path:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(make_config(**overrides).model_dump(mode="json")))
    return path


def counted_describe(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Item ids the scripted front-end is asked to describe, across every instance."""
    seen: list[str] = []
    original = ScriptedCaptioner.describe

    def describe(self: ScriptedCaptioner, batch: Sequence[StageInput]) -> list[StageOutput]:
        seen.extend(b.item_id for b in batch)
        return original(self, batch)

    monkeypatch.setattr(ScriptedCaptioner, "describe", describe)
    return seen


def failing_load(self: ScriptedReasoner) -> object:
    raise ComponentError("reasoner 'scripted' could not start: not enough memory (set X)")


def test_a_reasoner_that_cannot_start_fails_the_run_before_any_front_end_work(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    described = counted_describe(monkeypatch)
    monkeypatch.setattr(ScriptedReasoner, "load", failing_load)
    result = runner.invoke(app, ["run", "--config", str(config_file(make_config, tmp_path))])
    assert result.exit_code == 1, result.output
    assert "error: reasoner 'scripted' could not start: not enough memory (set X)" in (
        result.stderr
    )
    assert "Traceback" not in result.output
    assert described == []
    run_dir = pipeline.run_directory(make_config())
    assert not (run_dir / "results.jsonl").exists()


def test_every_component_is_loaded_before_the_first_item(
    make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    monkeypatch.setattr(ScriptedReasoner, "load", lambda self: events.append("load reasoner"))
    monkeypatch.setattr(ScriptedCaptioner, "load", lambda self: events.append("load stage"))
    original = ScriptedCaptioner.describe

    def describe(self: ScriptedCaptioner, batch: Sequence[StageInput]) -> list[StageOutput]:
        events.append("describe")
        return original(self, batch)

    monkeypatch.setattr(ScriptedCaptioner, "describe", describe)
    commands.run(make_config())
    assert events[:2] == ["load reasoner", "load stage"] and events[2:] == ["describe"] * 3
    # Resuming a finished run loads nothing: there is no item left to compute.
    events.clear()
    commands.run(make_config())
    assert events == []


def test_frontend_first_leaves_the_reasoner_to_load_after_the_front_end(
    make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    described = counted_describe(monkeypatch)
    monkeypatch.setattr(ScriptedReasoner, "load", failing_load)
    loaded: list[str] = []
    monkeypatch.setattr(ScriptedCaptioner, "load", lambda self: loaded.append("stage"))
    summary = commands.run(make_config(run={"schedule": "frontend-first"}))
    assert loaded == ["stage"] and len(described) == 6  # the reasoner never had to load here
    assert summary.errors == 0


def noisy_describe(self: ScriptedCaptioner, batch: Sequence[StageInput]) -> list[StageOutput]:
    """Writes as model libraries do: a child process on descriptor 2, a Python logger."""
    script = f"import os; os.write(2, b'{ENGINE_NOISE}\\n')"
    subprocess.run([sys.executable, "-c", script], check=True)
    logging.getLogger("somelibrary").info("library log line")
    return [self.output(item, "a clip") for item in batch]


@pytest.mark.parametrize("verbose", [False, True], ids=["quiet", "verbose"])
def test_third_party_output_goes_to_the_run_log_and_to_the_terminal_only_with_verbose(
    make_config: MakeConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    verbose: bool,
) -> None:
    monkeypatch.setattr(ScriptedCaptioner, "describe", noisy_describe)
    options = ["--verbose"] if verbose else []
    result = runner.invoke(
        app, [*options, "run", "--config", str(config_file(make_config, tmp_path))]
    )
    assert result.exit_code == 0, result.output
    assert "answers computed 6" in result.stdout  # cascade's own lines still show
    log = (pipeline.run_directory(make_config()) / "cascade.log").read_text()
    assert ENGINE_NOISE in log and "INFO somelibrary: library log line" in log
    terminal = capfd.readouterr()
    assert ENGINE_NOISE not in terminal.out + terminal.err  # nothing reached the real fds
    assert (ENGINE_NOISE in result.stderr) is verbose
    assert ("library log line" in result.stderr) is verbose


def test_capture_restores_the_terminal_after_an_error(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "run" / "cascade.log"
    with pytest.raises(ComponentError), logs.capture(log):
        os.write(2, b"C-level noise\n")
        subprocess.run([sys.executable, "-c", "import os; os.write(1, b'child noise\\n')"])
        raise ComponentError("engine failed")
    os.write(2, b"after the capture\n")
    terminal = capfd.readouterr()
    assert "C-level noise" not in terminal.err and "child noise" not in terminal.out
    assert "after the capture" in terminal.err
    assert "C-level noise" in log.read_text() and "child noise" in log.read_text()
    assert logs.active() is None
