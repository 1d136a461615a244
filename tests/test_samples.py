"""Repeated samples (`run.samples`): k answers per item, majority vote, statistics over samples."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cascade import commands
from cascade.cli import app
from cascade.core import ConfigError
from cascade.core import token_set_match as official_match
from cascade.run import RunDir, pipeline
from cascade.scoring.samples import mean_summary
from tests.conftest import ITEMS, MakeConfig

runner = CliRunner()

# Letters per sample; "???" and "I cannot tell" name no option (INVALID).
SAMPLE_ANSWERS = {
    "tone-440": ["ANSWER: B", "ANSWER: B", "ANSWER: B"],  # all right
    "tone-880": ["ANSWER: C", "ANSWER: A", "ANSWER: C"],  # majority right, 2 of 3
    "speech-yes": ["ANSWER: A", "ANSWER: B", "???"],  # three-way tie (INVALID one of them)
    "music-mood": ["ANSWER: A", "ANSWER: A", "ANSWER: B"],  # majority wrong, 1 of 3 right
    "mix-6": ["I cannot tell", "???", "ANSWER: F"],  # majority INVALID, 1 of 3 right
    "speech-count": ["ANSWER: B", "ANSWER: C", "ANSWER: D"],  # three-way tie, 1 of 3 right
}
# Per item, in ITEMS order: share of samples right, and share agreeing with the modal answer.
PER_ITEM_ACCURACY = [1, 2 / 3, 1 / 3, 1 / 3, 1 / 3, 1 / 3]
PER_ITEM_AGREEMENT = [1, 2 / 3, 1 / 3, 2 / 3, 2 / 3, 1 / 3]
MAJORITY_RIGHT = {"tone-440", "tone-880"}


def sampled(make_config: MakeConfig, **overrides: Any) -> Any:
    return make_config(
        run__samples=3,
        reasoner={"name": "scripted", "config": {"sample_answers": SAMPLE_ANSWERS}},
        **overrides,
    )


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_item_is_described_once_and_answered_k_times(make_config: MakeConfig) -> None:
    summary = commands.run(sampled(make_config))

    results = lines(summary.run_dir / "results.jsonl")
    assert [(r["id"], r["sample"]) for r in results] == [(i[0], s) for i in ITEMS for s in range(3)]
    assert len({r["reasoner_key"] for r in results}) == 18  # each sample its own cache entry
    assert [r["raw_answer"] for r in results if r["id"] == "tone-880"] == SAMPLE_ANSWERS["tone-880"]
    assert (summary.frontend.computed, summary.reasoner.computed) == (6, 18)
    assert summary.unanswered == 0
    assert "tone-880" in (summary.run_dir / "report.html").read_text()  # one entry per item


def test_metrics_hold_mean_majority_and_agreement(make_config: MakeConfig) -> None:
    summary = commands.run(sampled(make_config))
    metrics = json.loads((summary.run_dir / "metrics.json").read_text())

    overall = metrics["samples"]["overall"]
    assert (metrics["samples"]["k"], overall["n"], overall["ties"]) == (3, 6, 2)
    mean = overall["mean_accuracy"]["strict"]
    assert mean["mean"] == pytest.approx(0.5)
    # The standard error of the mean of per-item accuracies, computed independently.
    se = statistics.stdev(PER_ITEM_ACCURACY) / math.sqrt(6)
    assert se == pytest.approx(math.sqrt(7 / 540))
    assert mean["se"] == pytest.approx(se)
    t = 2.570581835636314  # t quantile 0.975, 5 degrees of freedom: items are the unit
    assert mean["ci95"] == pytest.approx([0.5 - t * se, 0.5 + t * se])
    assert overall["majority_accuracy"] == pytest.approx(
        dict.fromkeys(["official", "strict", "lenient"], 2 / 6)
    )
    assert overall["agreement"] == pytest.approx(statistics.mean(PER_ITEM_AGREEMENT))

    speech = metrics["samples"]["by"]["modality"]["speech"]
    assert (speech["n"], speech["ties"]) == (2, 2)
    assert speech["agreement"] == pytest.approx(1 / 3)
    assert speech["mean_accuracy"]["lenient"]["mean"] == pytest.approx(1 / 3)
    assert speech["majority_accuracy"]["lenient"] == 0

    # Every other figure is the majority vote's: ties and an INVALID majority count wrong.
    strict = metrics["scorers"]["strict"]["overall"]
    assert (strict["n"], strict["correct"]) == (6, 2)
    assert metrics["invalid"]["strict"] == 3  # two ties and mix-6's INVALID majority
    report = (summary.run_dir / "report.md").read_text()
    assert "## Repeated samples" in report and "61.11" in report  # agreement 11/18


def test_predictions_hold_the_majority_answer_and_nothing_for_a_tie(
    make_config: MakeConfig,
) -> None:
    summary = commands.run(sampled(make_config))
    predictions = json.loads((summary.run_dir / "predictions.json").read_text())

    by_id = {p["id"]: p["answer_prediction"] for p in predictions}
    assert by_id == {
        "tone-440": "440 Hz",
        "tone-880": "880 Hz",
        "speech-yes": "",
        "music-mood": "Happy",
        "mix-6": "I cannot tell",
        "speech-count": "",
    }
    official = {
        p["id"]
        for p in predictions
        if official_match(p["answer"], p["answer_prediction"], p["choices"])
    }
    assert official == MAJORITY_RIGHT  # what the official script would say
    assert summary.metrics["scorers"]["official"]["overall"]["correct"] == len(official)


def test_resume_answers_only_the_missing_samples(make_config: MakeConfig) -> None:
    config = sampled(make_config)
    first = commands.run(config)
    path = first.run_dir / "results.jsonl"
    kept = [
        r
        for r in lines(path)
        if (r["id"], r["sample"]) not in {("tone-880", 2), ("mix-6", 0), ("mix-6", 1)}
    ]
    failed = {"error": "reasoner: boom", "error_stage": "reasoner", "raw_answer": None}
    kept = [r | failed if (r["id"], r["sample"]) == ("music-mood", 1) else r for r in kept]
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    again = commands.run(config)

    assert (again.resumed, again.processed) == (3, 3)
    assert again.reasoner.computed + again.reasoner.reused == 4  # 3 missing, 1 failed
    assert again.frontend.reused == 3  # the unfinished items, described from the cache
    assert len(lines(path)) == 18
    assert again.metrics["samples"] == first.metrics["samples"]


def test_k1_keeps_its_directory_and_k_above_1_gets_another(make_config: MakeConfig) -> None:
    plain = make_config()
    assert make_config(run__samples=1).fingerprint() == plain.fingerprint()
    assert sampled(make_config).fingerprint() != plain.fingerprint()
    assert make_config(run__samples=3).fingerprint() != make_config(run__samples=5).fingerprint()
    assert pipeline.run_directory(sampled(make_config)) != pipeline.run_directory(plain)


def test_one_sample_writes_no_samples_section(make_config: MakeConfig) -> None:
    summary = commands.run(make_config())
    assert "samples" not in json.loads((summary.run_dir / "metrics.json").read_text())
    assert "Repeated samples" not in (summary.run_dir / "report.md").read_text()


def test_score_and_compare_sampled_runs_from_the_cli(make_config: MakeConfig) -> None:
    sampled_run = commands.run(sampled(make_config))
    single = commands.run(make_config())  # every answer right

    scored = runner.invoke(app, ["score", str(sampled_run.run_dir), "--json"])
    assert scored.exit_code == 0, scored.output
    rescored = json.loads(scored.stdout)
    assert rescored["samples"] == sampled_run.metrics["samples"]
    assert rescored["scorers"] == sampled_run.metrics["scorers"]

    result = runner.invoke(
        app, ["compare", str(single.run_dir), str(sampled_run.run_dir), "--json"]
    )
    assert result.exit_code == 0, result.output
    compared = json.loads(result.stdout)
    strict = next(p for p in compared["paired"] if p["scorer"] == "strict")
    assert strict["n"] == 6  # paired on each item's majority vote
    assert sorted(strict["to_wrong"]) == sorted({i[0] for i in ITEMS} - MAJORITY_RIGHT)
    assert compared["runs"][1]["metrics"]["samples"]["k"] == 3


def test_greedy_reasoner_refuses_samples_from_the_cli(tmp_path: Path) -> None:
    refused = runner.invoke(
        app, ["run", "--reasoner", "smollm2", "--set", "run.samples=3", "--dry-run"]
    )
    assert refused.exit_code == 1
    assert "run.samples=3 needs a sampling reasoner" in refused.stderr
    assert "temperature 0" in refused.stderr and "reasoner.config.temperature" in refused.stderr

    allowed = runner.invoke(
        app,
        [
            "run",
            "--reasoner",
            "smollm2",
            "--set",
            "run.samples=3",
            "--set",
            "reasoner.config.temperature=0.7",
            "--set",
            f"run.output_dir={tmp_path}",
            "--dry-run",
        ],
    )
    assert allowed.exit_code == 0, allowed.output


def test_samples_below_one_is_a_config_error(make_config: MakeConfig) -> None:
    with pytest.raises(
        ConfigError, match=r"run\.samples: Input should be greater than or equal to 1"
    ):
        make_config(run__samples=0)


def test_cli_run_prints_the_sampled_figures(make_config: MakeConfig, tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(sampled(make_config).model_dump(mode="json")))
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "3 samples per item (the table above: majority vote)" in result.stdout
    assert "61.11" in result.stdout  # agreement 11/18


def test_a_server_default_temperature_samples_and_greedy_presets_refuse() -> None:
    from cascade.run.config import resolve

    assert resolve(reasoner="deepseek-r1", overrides=["run.samples=3"]).run.samples == 3
    with pytest.raises(ConfigError, match=r"^invalid run config \(.*\):\n  run\.samples=3 needs"):
        resolve(reasoner="gpt-4o", overrides=["run.samples=3"])


def test_one_item_has_no_standard_error() -> None:
    assert mean_summary([2 / 3]) == {"mean": 2 / 3, "se": None, "ci95": [0.0, 1.0]}
    assert mean_summary([1.0, 0.0])["se"] == pytest.approx(
        statistics.stdev([1.0, 0.0]) / math.sqrt(2)
    )


def test_a_reader_sees_every_sample_and_results_gives_the_first(make_config: MakeConfig) -> None:
    summary = commands.run(sampled(make_config))

    reader = RunDir(summary.run_dir)
    samples = reader.samples()
    assert {i: sorted(by_sample) for i, by_sample in samples.items()} == {
        i[0]: [0, 1, 2] for i in ITEMS
    }
    assert [samples["tone-880"][s]["raw_answer"] for s in range(3)] == SAMPLE_ANSWERS["tone-880"]
    assert {i: r["sample"] for i, r in reader.results().items()} == {i[0]: 0 for i in ITEMS}
