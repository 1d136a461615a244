"""Nothing runs that the user did not ask for, unseen: no default test double, no silent fallback.

A run config must name its reasoner; a run with a scripted component says so in every output; a
preset that falls back to another says so in the plan and the summary; an ablation whose
substitute audio cannot be made fails the item instead of hearing the real clip.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cascade import commands
from cascade.core import ConfigError, ExitCode
from cascade.run import config as configs
from cascade.run import pipeline, variations
from tests.conftest import MakeConfig

runner = CliRunner()


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_config_without_a_reasoner_is_an_error_naming_the_fix(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    data = make_config().model_dump(mode="json")
    del data["reasoner"]
    path = write(tmp_path / "run.yaml", data)
    from cascade.cli import app

    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == ExitCode.ERROR, result.output
    assert "no reasoner is named" in result.stderr and "--reasoner smollm2" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()
    with pytest.raises(ConfigError, match="no reasoner is named"):
        configs.validate({"captioners": []})


def test_naming_the_reasoner_on_the_command_line_is_enough(tmp_path: Path) -> None:
    path = write(tmp_path / "run.yaml", {"benchmark": {"name": "demo"}})
    resolved = configs.resolve(str(path), reasoner="scripted")
    assert resolved.reasoner.name == "scripted"


def test_every_output_of_a_scripted_run_says_so(make_config: MakeConfig, tmp_path: Path) -> None:
    from cascade.cli import app

    path = write(tmp_path / "run.yaml", make_config().model_dump(mode="json"))
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == ExitCode.OK, result.output
    assert "SCRIPTED REASONER" in result.stdout and "measure nothing" in result.stdout
    assert "SCRIPTED CAPTIONER 'scripted'" in result.stdout

    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["scripted"] == ["captioner:scripted", "reasoner"]
    assert any("SCRIPTED REASONER" in n for n in summary["notices"])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["scripted"] == ["captioner:scripted", "reasoner"]
    assert "> **SCRIPTED REASONER" in (run_dir / "report.md").read_text()
    html = (run_dir / "report.html").read_text()
    assert "Read this first" in html and "SCRIPTED REASONER" in html

    plan = runner.invoke(app, ["run", "--config", str(path), "--dry-run", "--json"])
    assert plan.exit_code == ExitCode.OK, plan.output
    notices = json.loads(plan.stdout)["notices"]
    assert [n.split(":")[0] for n in notices] == [
        "SCRIPTED REASONER",
        "SCRIPTED CAPTIONER 'scripted'",
    ]


def test_a_run_of_real_components_has_no_notice(make_config: MakeConfig) -> None:
    from cascade.run import plan

    config = make_config(captioners=[], reasoner={"name": "transformers", "config": {}})
    assert plan.notices(config) == [] and plan.scripted(config) == []


@pytest.fixture
def no_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without vLLM: the reasoner `vllm` cannot be imported."""
    real = configs.installed
    monkeypatch.setattr(
        configs, "installed", lambda table, name: name != "vllm" and real(table, name)
    )


FALLBACK = (
    "FALLBACK: the reasoner preset 'smollm2' cannot run here (reasoner 'vllm' needs vllm, which "
    "is not installed here: pip install -e '.[vllm]'), so its fallback 'smollm2-transformers' "
    "(transformers) runs instead"
)


@pytest.mark.usefixtures("no_vllm")
def test_the_default_presets_fallback_is_recorded_and_keeps_the_fingerprint() -> None:
    fell_back = configs.resolve("default")
    assert fell_back.reasoner.name == "transformers"
    assert fell_back.reasoner.preset == "smollm2-transformers"
    assert fell_back.reasoner.fallback_from == "smollm2"
    asked = configs.resolve("default", reasoner="smollm2-transformers")
    assert asked.reasoner.fallback_from is None
    # What ran is the same, so the run directory is the same: the note is not in the hash.
    assert fell_back.fingerprint() == asked.fingerprint()


@pytest.mark.usefixtures("no_vllm")
def test_the_dry_run_plan_says_the_preset_fell_back() -> None:
    from cascade.cli import app

    result = runner.invoke(app, ["run", "--dry-run", "--json"])
    assert result.exit_code == ExitCode.OK, result.output
    plan = json.loads(result.stdout)
    assert plan["reasoner"]["component"] == "transformers"
    assert plan["reasoner"]["fallback_from"] == "smollm2"
    assert plan["notices"] == [FALLBACK]


def test_the_run_summary_and_reports_say_the_preset_fell_back(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    from cascade.cli import app

    # The resolved spec as a fallback leaves it, with a scripted component standing in for the
    # transformers model (the notice comes from the spec, whatever the component).
    reasoner = {"name": "scripted", "preset": "smollm2-transformers", "fallback_from": "smollm2"}
    config = make_config(reasoner=reasoner)
    path = write(tmp_path / "run.yaml", config.model_dump(mode="json"))
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == ExitCode.OK, result.output
    assert "FALLBACK: the reasoner preset 'smollm2' cannot run here" in result.stdout
    summary = json.loads((pipeline.run_directory(config) / "summary.json").read_text())
    assert FALLBACK.replace("(transformers)", "(scripted)") in summary["notices"]
    assert "FALLBACK" in (pipeline.run_directory(config) / "report.md").read_text()


def failing_on(item_suffix: str, error: Exception, real: Any) -> Any:
    def patched(*args: Any, **kwargs: Any) -> Any:
        text = " ".join(str(a) for a in [*args, *kwargs.values()])
        if item_suffix in text:
            raise error
        return real(*args, **kwargs)

    return patched


@pytest.mark.parametrize(
    ("target", "error"),
    [
        ("clip_seconds", RuntimeError("unreadable header")),
        ("synthetic_clip", OSError(28, "No space left on device")),
    ],
)
def test_a_substitute_clip_that_cannot_be_made_fails_the_item_never_the_real_clip(
    make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch, target: str, error: Exception
) -> None:
    monkeypatch.setattr(
        variations, target, failing_on("tone-880", error, getattr(variations, target))
    )
    summary = commands.run(make_config(audio={"replace": "noise"}))

    lines = (summary.run_dir / "results.jsonl").read_text().splitlines()
    results = {r["id"]: r for r in map(json.loads, lines)}
    failed = results["tone-880"]
    assert failed["error_stage"] == "audio" and failed["raw_answer"] is None
    assert "audio.replace=noise cannot make its substitute clip" in failed["error"]
    assert str(error) in failed["error"]
    assert all(r["error"] is None for i, r in results.items() if i != "tone-880")
    assert summary.unanswered == 1
