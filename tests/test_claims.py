"""Published-row claims: a preset that claims a paper's row carries every setting the row depends
on; the plan, the console summary, report.md and report.html name the row only while all of them
hold, and otherwise say which settings differ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from markupsafe import escape
from typer.testing import CliRunner

from cascade.cli import app
from tests.conftest import MakeConfig

runner = CliRunner()
R1_ROW = "MMAR (arXiv 2505.13032), cascade table: Caption + DeepSeek-R1, 55.50% avg"
PAPER_ROW = ["run", "--captioner", "qwen-audio", "--benchmark", "mmar", "--dry-run"]
"""The paper's cascade rows are on MMAR, captioned by the qwen-audio preset."""


def plan(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    described: dict[str, Any] = json.loads(result.stdout)
    return described


def differences(described: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {d["setting"]: (d["required"], d["actual"]) for d in described["claim"]["differences"]}


def test_the_deepseek_r1_preset_alone_runs_its_row_with_the_plain_prompt() -> None:
    described = plan(*PAPER_ROW, "--reasoner", "deepseek-r1")
    assert described["prompts"]["answer"] == "mcq_plain v1"
    assert described["reproduces"] == R1_ROW
    assert described["claim"]["holds"] is True
    assert described["claim"]["differences"] == []
    assert "caption prompt" in described["claim"]["assumes"]


def test_an_explicit_answer_prompt_wins_and_drops_the_claim() -> None:
    described = plan(*PAPER_ROW, "--reasoner", "deepseek-r1", "--set", "prompts.answer=mcq_cot")
    assert described["prompts"]["answer"] == "mcq_cot v2"
    assert described["reproduces"] is None
    assert described["claim"]["holds"] is False
    assert differences(described) == {"prompts.answer": ("mcq_plain", "mcq_cot")}


@pytest.mark.parametrize(
    ("override", "setting", "required", "actual"),
    [
        ("reasoner.config.max_tokens=4096", "reasoner.config.max_tokens", 32768, 4096),
        ("reasoner.config.model=deepseek-chat", "reasoner.config.model", "deepseek-reasoner",
         "deepseek-chat"),
        ("prompts.description=oracle", "prompts.description", "description", "oracle"),
        ("benchmark.limit=20", "benchmark.limit", None, 20),
        ("audio.replace=noise", "audio.replace", "none", "noise"),
        ("description.word_dropout=0.2", "description.word_dropout", 0.0, 0.2),
        ("captioners.0.config.max_new_tokens=64", "captioners", ["qwen-audio"],
         ["qwen-audio (config changed: max_new_tokens)"]),
    ],
)  # fmt: skip
def test_changing_any_setting_the_row_depends_on_drops_the_claim(
    override: str, setting: str, required: Any, actual: Any
) -> None:
    described = plan(*PAPER_ROW, "--reasoner", "deepseek-r1", "--set", override)
    assert described["reproduces"] is None
    assert differences(described) == {setting: (required, actual)}


def test_another_front_end_or_benchmark_drops_the_claim() -> None:
    described = plan("run", "--reasoner", "deepseek-r1", "--dry-run")
    assert described["reproduces"] is None
    assert differences(described) == {
        "benchmark.name": ("mmar", "demo"),
        "captioners": (["qwen-audio"], ["whisper", "audioset", "signal"]),
    }


@pytest.mark.parametrize("preset", ["gpt-4o", "deepseek-v3", "o1", "o3", "deepseek-r1"])
def test_every_paper_preset_reproduces_its_row_when_named(preset: str) -> None:
    described = plan(*PAPER_ROW, "--reasoner", preset)
    assert described["claim"]["holds"] is True, described["claim"]
    assert described["reproduces"].startswith("MMAR (arXiv 2505.13032), cascade table: Caption + ")


def test_the_embedded_default_claims_no_row() -> None:
    described = plan("run", "--dry-run")
    assert described["reproduces"] is None
    assert described["claim"] is None


@pytest.mark.parametrize("preset", ["qwen3-8b", "r1-distill-qwen-7b", "smollm2"])
def test_local_presets_claim_no_row(preset: str) -> None:
    described = plan(*PAPER_ROW, "--reasoner", preset)
    assert described["reproduces"] is None and described["claim"] is None


def _run(config_path: Path, run_dir: Path, *sets: str) -> tuple[str, Path]:
    args = ["run", "--config", str(config_path), "--run-dir", str(run_dir)]
    for override in sets:
        args += ["--set", override]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stdout, run_dir


def test_the_summary_and_the_reports_state_the_claim_only_while_it_holds(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    claim = {
        "row": "Test table: scripted cascade, 100.00% avg",
        "requires": {"prompts.answer": "mcq_cot"},
    }
    path = tmp_path / "claiming.yaml"
    path.write_text(yaml.safe_dump(make_config(claim=claim).model_dump(mode="json")))

    console, run_dir = _run(path, tmp_path / "held")
    held = "Reproduces: Test table: scripted cascade, 100.00% avg."
    assert held in " ".join(console.split())
    assert held in (run_dir / "report.md").read_text()
    assert held in (run_dir / "report.html").read_text()
    assert json.loads((run_dir / "summary.json").read_text())["claim"]["holds"] is True
    rescored = runner.invoke(app, ["score", str(run_dir), "--output", str(tmp_path / "rescored")])
    assert rescored.exit_code == 0, rescored.output
    assert held in (tmp_path / "rescored" / "report.md").read_text()

    console, run_dir = _run(path, tmp_path / "dropped", "prompts.answer=mcq_direct")
    dropped = (
        "Does not reproduce Test table: scripted cascade, 100.00% avg: the claim is dropped "
        "because these settings differ from the row's: prompts.answer (required mcq_cot, "
        "actual mcq_direct)."
    )
    assert dropped in " ".join(console.split())
    assert dropped in (run_dir / "report.md").read_text()
    assert escape(dropped) in (run_dir / "report.html").read_text()
    for text in (console, (run_dir / "report.md").read_text()):
        assert "Reproduces:" not in text


def test_a_run_that_claims_nothing_says_so_in_its_reports(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(yaml.safe_dump(make_config().model_dump(mode="json")))
    console, run_dir = _run(path, tmp_path / "run")
    none = "Published row: none claimed by this configuration."
    assert none in " ".join(console.split())
    assert none in (run_dir / "report.md").read_text()
