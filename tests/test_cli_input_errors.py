"""User errors that the CLI reports as one paragraph with the fix: a full disk, a NUL byte."""

from __future__ import annotations

import errno
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cascade.cli import app
from cascade.run import RunDir
from tests.conftest import MakeConfig

runner = CliRunner()


def test_a_full_disk_is_one_paragraph_and_keeps_what_was_written(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(make_config().model_dump(mode="json")))
    append = RunDir.append
    batches: list[int] = []

    def full_after_one_batch(self: RunDir, lines: Iterable[Mapping[str, Any]]) -> None:
        if batches:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path / "results.jsonl"))
        batches.append(1)
        append(self, lines)

    monkeypatch.setattr(RunDir, "append", full_after_one_batch)
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "No space left on device writing" in result.stderr
    assert "free some space" in result.stderr and "resume" in result.stderr
    (results,) = (tmp_path / "runs").glob("*/results.jsonl")
    assert len(results.read_text().splitlines()) == 2  # the first batch (batch_size 2) is kept

    monkeypatch.setattr(RunDir, "append", append)
    again = runner.invoke(app, ["run", "--config", str(path)])
    assert again.exit_code == 0, again.output
    assert "resumed 2" in again.stdout


def test_other_os_errors_are_not_disguised_as_user_errors(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(make_config().model_dump(mode="json")))

    def broken(self: RunDir, lines: Iterable[Mapping[str, Any]]) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(RunDir, "append", broken)
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code != 0
    assert isinstance(result.exception, OSError)


def test_a_nul_byte_in_audio_path_names_the_item(tmp_path: Path) -> None:
    record = {
        "id": "item-1",
        "audio_path": "./audio/a\x00b.wav",
        "question": "Which?",
        "choices": ["x", "y"],
        "answer": "x",
        "modality": "sound",
        "category": "Signal Layer",
        "sub-category": "Test",
        "language": None,
        "answer_prediction": "x",
    }
    predictions = tmp_path / "predictions.json"
    predictions.write_text(json.dumps([record]))
    result = runner.invoke(app, ["score", str(predictions)])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "item item-1" in result.stderr and "NUL byte" in result.stderr
