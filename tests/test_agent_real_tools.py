"""Every real tool of `configs/agent-demo.yaml` (Whisper tiny.en, YAMNet AudioSet tags, signal
analysis) called through the CLI by a scripted reasoner, whatever SmolLM2 itself does: each tool
path runs on real audio, windows included, and a second run computes no call again."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cascade.cli import app
from cascade.core import ExitCode

pytestmark = pytest.mark.slow

ITEMS = ["demo-weather-report", "demo-click-tempo"]
TURN = (
    'CALL transcribe {}\nCALL tag_sounds {"start_s": 0, "end_s": 2.005}\n'
    'CALL measure_signal {"start_s": 1, "end_s": 600}'
)


def config(tmp_path: Path, out: str) -> dict[str, Any]:
    return {
        "name": "agent-real-tools",
        "benchmark": {"name": "demo", "ids": ITEMS},
        "captioners": [],
        "reasoner": {
            "name": "scripted",
            "config": {"turns": {i: [TURN] for i in ITEMS}, "default": "ANSWER: A"},
        },
        "agent": {"tools": ["whisper", "audioset", "signal"], "max_steps": 3},
        "run": {"output_dir": str(tmp_path / out)},
        "cache_dir": str(tmp_path / "cache"),
    }


def run(tmp_path: Path, out: str) -> tuple[dict[str, Any], dict[str, Any]]:
    path = tmp_path / f"{out}.yaml"
    path.write_text(yaml.safe_dump(config(tmp_path, out)))
    result = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == ExitCode.OK, result.output
    (folder,) = (tmp_path / out).iterdir()
    lines = {r["id"]: r for r in map(json.loads, (folder / "results.jsonl").open())}
    return lines, json.loads((folder / "summary.json").read_text())


def test_every_real_tool_answers_a_call(tmp_path: Path) -> None:
    lines, summary = run(tmp_path, "first")
    for item in ITEMS:
        (step, _) = lines[item]["agent"]["steps"]
        calls = {c["name"]: c for c in step["calls"]}
        assert set(calls) == {"transcribe", "tag_sounds", "measure_signal"}
        assert all(c["error"] is None and c["key"] for c in calls.values()), calls
        assert calls["tag_sounds"]["window"] == [0.0, 2.0]  # 2.005 rounded to hundredths
        assert "<tags>" in calls["tag_sounds"]["output"]
        assert "so it was clipped" in calls["measure_signal"]["output"]
    speech = {c["name"]: c for c in lines["demo-weather-report"]["agent"]["steps"][0]["calls"]}
    assert "<transcript>" in speech["transcribe"]["output"]
    assert any(w in speech["transcribe"]["output"].lower() for w in ("rain", "cold", "coat"))
    assert summary["agent"]["calls"]["computed"] == 6
    _, again = run(tmp_path, "second")
    assert again["agent"]["calls"] == again["agent"]["calls"] | {"computed": 0, "reused": 6}
