"""Re-scoring and comparing runs: a run keeps how it was scored, `score` and `compare` use it unless
the command line overrides it, compare and sweeps share one paired test, and bad options or
runs with nothing in common are one-paragraph errors, never tracebacks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cascade import commands
from cascade.analysis.ablate import SweepSpec
from cascade.analysis.sweep_table import sweep_table
from cascade.cli import app
from cascade.run.rescore import from_run
from cascade.scoring import PAIRED_ALPHA, ScoringSpec
from tests.conftest import ITEMS, MakeConfig

runner = CliRunner()
WRONG = {i[0]: "ANSWER: Z" for i in ITEMS}
"""Scripted answers that name no option: every item wrong under every scorer."""


def invoke(*args: object) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def one_paragraph_error(result: Any, *needles: str) -> None:
    """Exit 1, the message on stderr naming what is wrong, no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, result.stderr


def run_dir(make_config: MakeConfig, path: Path, **overrides: Any) -> Path:
    commands.run(make_config(run__run_dir=str(path), **overrides))
    return path


def test_score_of_a_run_uses_the_scoring_it_was_made_with(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    made = run_dir(
        make_config,
        tmp_path / "family30",
        scoring={"family_size": 30, "ci_method": "bootstrap", "bootstrap_samples": 500},
    )
    stored = json.loads((made / "metrics.json").read_text())["scoring"]

    result = invoke("score", made, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["scoring"] == stored
    assert stored["family_size"] == 30 and stored["ci"] == "bootstrap"

    overridden = invoke("score", made, "--json", "--family-size", "5")
    assert overridden.exit_code == 0, overridden.output
    assert json.loads(overridden.stdout)["scoring"] | {"threshold": None} == {
        "alpha": 0.001,
        "family_size": 5,
        "threshold": None,
        "ci": "bootstrap",
    }


def test_compare_scores_each_run_with_its_own_stored_settings(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    a = run_dir(make_config, tmp_path / "a", scoring={"family_size": 30})
    b = run_dir(make_config, tmp_path / "b", scoring={"alpha": 0.01})
    result = invoke("compare", a, b, "--json")
    assert result.exit_code == 0, result.output
    scorings = [r["metrics"]["scoring"] for r in json.loads(result.stdout)["runs"]]
    assert [(s["alpha"], s["family_size"]) for s in scorings] == [(0.001, 30), (0.01, 1)]


def test_compare_and_the_sweep_table_are_one_paired_test_with_one_default_level(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    right = run_dir(make_config, tmp_path / "right")
    wrong = run_dir(make_config, tmp_path / "wrong", reasoner={"config": {"answers": WRONG}})
    # 6 items flip right -> wrong: exact McNemar p = 2 / 2**6 = 0.03125, significant at the
    # shared default 0.05 but not at the 0.001 compare used to default to.
    result = invoke("compare", right, wrong, "--json")
    assert result.exit_code == 0, result.output
    compared = json.loads(result.stdout)
    assert compared["alpha"] == PAIRED_ALPHA == SweepSpec().alpha == 0.05
    strict = next(p for p in compared["paired"] if p["scorer"] == "strict")
    assert strict["p_value"] == pytest.approx(0.03125)
    assert strict["significant"] is True

    table = sweep_table(
        [("right", from_run(right)), ("wrong", from_run(wrong))], scoring=ScoringSpec()
    )
    row = table[(table.variation == "wrong") & (table.scorer == "strict") & (table.group == "all")]
    assert row.p_bonferroni.item() == pytest.approx(strict["p_bonferroni"])
    assert bool(row.significant.item()) is strict["significant"]


def test_compare_labels_runs_by_directory_and_restricts_to_shared_items(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    ids = [i[0] for i in ITEMS]
    a = run_dir(make_config, tmp_path / "first", benchmark={"ids": ids[:3]})
    b = run_dir(make_config, tmp_path / "second", benchmark={"ids": ids[1:5]})
    result = invoke("compare", a, b, "--json")
    assert result.exit_code == 0, result.output
    compared = json.loads(result.stdout)
    assert [r["name"] for r in compared["runs"]] == [str(a), str(b)]  # both configs are "test"
    assert [r["metrics"]["n_items"] for r in compared["runs"]] == [2, 2]
    assert compared["shared"] == {
        "n": 2,
        "items_per_run": {str(a): 3, str(b): 4},
        "partial": True,
    }

    shown = invoke("compare", a, b)
    assert shown.exit_code == 0, shown.output
    assert "every accuracy and test here is on the 2 items they share only" in " ".join(
        shown.stdout.split()
    )


def test_compare_refuses_runs_with_no_item_in_common(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    a = run_dir(make_config, tmp_path / "tones", benchmark={"ids": ["tone-440", "tone-880"]})
    b = run_dir(make_config, tmp_path / "speech", benchmark={"ids": ["speech-yes"]})
    one_paragraph_error(invoke("compare", a, b), f"{b} shares no item with {a}")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["score", "RUN", "--alpha", "5"], "--alpha"),
        (["score", "RUN", "--family-size", "0"], "--family-size"),
        (["compare", "RUN", "RUN", "--alpha", "0"], "--alpha"),
    ],
)
def test_bad_statistics_options_are_one_paragraph(
    make_config: MakeConfig, tmp_path: Path, args: list[str], needle: str
) -> None:
    made = run_dir(make_config, tmp_path / "run")
    result = invoke(*(str(made) if a == "RUN" else a for a in args))
    one_paragraph_error(result, needle)


def test_an_unknown_interval_method_is_refused_before_any_item_runs(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(json.dumps(make_config().model_dump(mode="json")))
    result = invoke(
        "run", "--config", config, "--run-dir", tmp_path / "run", "--set", "scoring.ci_method=bogus"
    )
    one_paragraph_error(result, "scoring.ci_method")
    assert not (tmp_path / "run").exists()
