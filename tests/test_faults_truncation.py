"""A length-stopped answer is cached like any other (flagged, INVALID under strict and lenient):
a second run, or an ablation level with the same prompts, computes none of them again. Errors
and empty answers are still never cached. Through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cascade.cli import app
from cascade.core import ExitCode
from cascade.run import RunConfig
from tests.conftest import ITEMS, MakeConfig, correct_letter

CUT = ["tone-440", "speech-yes"]
"""Items whose answer stops at the token budget (each ends in its right answer line, which a
truncated answer must not be credited for)."""


def scripted(**config: Any) -> dict[str, Any]:
    answers = {i[0]: f"Reasoning.\nANSWER: {correct_letter(i[0])}" for i in ITEMS}
    return {"name": "scripted", "config": {"answers": answers, "truncated": CUT, **config}}


def run(config: RunConfig, tmp_path: Path, *args: str) -> dict[str, Any]:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    result = CliRunner().invoke(app, ["run", "--config", str(path), *args])
    assert result.exit_code in (ExitCode.OK, ExitCode.FAILED_ITEMS), result.output
    run_dirs = sorted((tmp_path / "runs").iterdir(), key=lambda d: d.stat().st_mtime)
    summary = json.loads((run_dirs[-1] / "summary.json").read_text())
    results = [json.loads(x) for x in (run_dirs[-1] / "results.jsonl").read_text().splitlines()]
    return {"exit": result.exit_code, "summary": summary, "results": results}


def test_a_second_run_computes_no_truncated_answer_again(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    config = make_config(reasoner=scripted())
    first = run(config, tmp_path)
    assert first["summary"]["reasoner"]["computed"] == len(ITEMS)
    # Another run directory (another name), the same prompts and reasoner.
    second = run(config.model_copy(update={"name": "second"}), tmp_path)
    assert second["summary"]["reasoner"]["computed"] == 0
    assert second["summary"]["reasoner"]["reused"] == len(ITEMS)
    by_id = {r["id"]: r for r in second["results"]}
    for item in CUT:
        assert by_id[item]["truncated"] is True
        assert by_id[item]["correct"]["strict"] is False
        assert by_id[item]["correct"]["lenient"] is False


def test_errors_and_empty_answers_are_still_computed_again(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    reasoner = scripted(errors={"mix-6": "server said no"}, answers={"music-mood": "  "})
    reasoner["config"]["truncated"] = []
    config = make_config(reasoner=reasoner)
    first = run(config, tmp_path)
    assert first["exit"] == ExitCode.FAILED_ITEMS
    second = run(config.model_copy(update={"name": "second"}), tmp_path)
    assert second["summary"]["reasoner"]["reused"] == len(ITEMS) - 2
    assert second["summary"]["reasoner"]["failed"] == 2


def test_an_ablation_level_with_the_base_prompts_computes_nothing(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    base = make_config(reasoner=scripted()).model_dump(mode="json")
    base.pop("audio"), base.pop("description")
    sweep = {
        "name": "doses",
        "base": base,
        "output_dir": str(tmp_path / "sweep"),
        "doses": [{"name": "dropout", "key": "description.word_dropout", "levels": [0.0, 0.5]}],
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    result = CliRunner().invoke(app, ["ablate", str(path)])
    assert result.exit_code == ExitCode.OK, result.output
    summaries = {
        p.parent.name: json.loads(p.read_text()) for p in (tmp_path / "sweep").rglob("summary.json")
    }
    (level_0,) = [s for name, s in summaries.items() if "-dropout=0-" in name]
    assert level_0["reasoner"]["computed"] == 0, summaries.keys()


@pytest.mark.parametrize(
    ("reasoning", "computed_again"),
    [("A long trace that used the whole budget", 0), ("", 1)],
    ids=["budget-spent-on-reasoning-is-kept", "nothing-at-all-is-not"],
)
def test_a_length_stop_with_no_final_text_is_kept_only_with_its_trace(
    make_config: MakeConfig, tmp_path: Path, reasoning: str, computed_again: int
) -> None:
    reasoner = scripted(answers={"tone-440": ""}, reasoning=reasoning)
    reasoner["config"]["truncated"] = ["tone-440"]
    config = make_config(reasoner=reasoner)
    first = run(config, tmp_path)
    assert {r["id"]: r for r in first["results"]}["tone-440"]["truncated"] is True
    second = run(config.model_copy(update={"name": "second"}), tmp_path)
    assert second["summary"]["reasoner"]["computed"] == computed_again
