"""The pipeline driven by scripted components: files written, cache re-use, failures, resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cascade import commands
from cascade.core import FailureRateExceeded
from cascade.run import pipeline, read_results
from cascade.testing import ScriptedCaptioner, ScriptedReasoner
from tests.conftest import ITEMS, MakeConfig


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_run_writes_results_predictions_metrics_and_report(make_config: MakeConfig) -> None:
    summary = commands.run(make_config())

    run_dir = summary.run_dir
    results = lines(run_dir / "results.jsonl")
    assert [r["id"] for r in results] == [i[0] for i in ITEMS]
    first = results[0]
    assert first["error"] is None
    assert first["correct"] == {"official": True, "strict": True, "lenient": True}
    assert first["extractions"]["strict"]["letter"] == "B"
    assert first["stages"]["scripted"]["key"]
    assert first["prompt_hash"] and first["reasoner_key"]
    assert "a clip of 0.5 seconds" in first["description"]
    assert set(first["timings"]) >= {"frontend_s", "reasoner_s"}

    predictions = json.loads((run_dir / "predictions.json").read_text())
    assert predictions[0]["answer_prediction"] == "440 Hz"
    # no separate trace: the reasoning written before the answer line is what a judge reads
    assert predictions[0]["thinking_prediction"] == "Thinking..."
    assert predictions[0]["sub-category"] == "Test Sub-category"  # the item's own fields kept

    metrics = json.loads((run_dir / "metrics.json").read_text())
    overall = metrics["scorers"]["strict"]["overall"]
    assert overall["n"] == 6 and overall["correct"] == 6 and overall["accuracy"] == 1.0
    assert set(metrics["scorers"]["official"]["by"]) == {
        "modality",
        "category",
        "sub-category",
        "language",
    }
    assert metrics["scorers"]["lenient"]["by"]["modality"]["speech"]["n"] == 2
    assert metrics["scorers"]["lenient"]["by"]["language"]["none"]["n"] == 3
    assert metrics["invalid_rate"] == {"strict": 0.0, "lenient": 0.0}
    assert metrics["cache"]["stages"]["computed"] == 6
    assert "# test on demo" in (run_dir / "report.md").read_text()
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["config"]["reasoner"]["name"] == "scripted"


def test_second_identical_run_computes_nothing(make_config: MakeConfig, tmp_path: Path) -> None:
    first = commands.run(make_config())
    again = commands.run(make_config(run__run_dir=str(tmp_path / "again")))

    assert (first.frontend.computed, first.reasoner.computed) == (6, 6)
    assert (again.frontend.computed, again.frontend.reused) == (0, 6)
    assert (again.reasoner.computed, again.reasoner.reused) == (0, 6)
    assert (
        json.loads((again.run_dir / "metrics.json").read_text())["scorers"]
        == json.loads((first.run_dir / "metrics.json").read_text())["scorers"]
    )


def test_other_reasoner_reuses_the_front_end(make_config: MakeConfig) -> None:
    commands.run(make_config())
    other = commands.run(make_config(reasoner={"name": "scripted", "config": {"default": "B"}}))

    assert other.frontend.computed == 0 and other.frontend.reused == 6
    assert other.reasoner.computed == 6
    metrics = other.metrics
    # A bare "B" is no answer line: strict finds nothing, the lenient ladder reads the letter.
    assert metrics["invalid_rate"]["strict"] == 1.0
    assert metrics["scorers"]["strict"]["overall"]["correct"] == 0
    assert metrics["scorers"]["lenient"]["overall"]["correct"] == 4  # the items whose answer is B


def test_failing_item_is_recorded_and_the_run_goes_on(make_config: MakeConfig) -> None:
    config = make_config(
        captioners=[{"name": "scripted", "config": {"fail": ["tone-880"]}}],
        reasoner={"name": "scripted", "config": {"errors": {"mix-6": "HTTP 400: bad request"}}},
    )
    summary = commands.run(config)

    results = {r["id"]: r for r in lines(summary.run_dir / "results.jsonl")}
    assert results["tone-880"]["error"] == "stage scripted: scripted failure"
    assert results["tone-880"]["error_stage"] == "stage:scripted"
    assert results["mix-6"]["error"] == "reasoner: HTTP 400: bad request"
    assert results["mix-6"]["raw_answer"] is None
    assert results["mix-6"]["answer_prediction"] == ""
    assert results["mix-6"]["correct"] == {"official": False, "strict": False, "lenient": False}
    assert summary.metrics["errors"] == 2
    assert summary.metrics["errors_by_stage"] == {"stage:scripted": 1, "reasoner": 1}
    assert summary.metrics["scorers"]["strict"]["overall"]["n"] == 6  # errors count, as wrong


def test_failure_rate_limit_stops_the_run_with_results_kept(make_config: MakeConfig) -> None:
    failing = {i[0]: "HTTP 500" for i in ITEMS[:4]}
    config = make_config(
        reasoner={"name": "scripted", "config": {"errors": failing}},
        run={"batch_size": 2, "max_failure_rate": 0.5, "min_items_for_failure_rate": 2},
    )
    with pytest.raises(FailureRateExceeded, match=r"max_failure_rate=0\.5"):
        commands.run(config)

    run_dir = pipeline.run_directory(config)
    results = lines(run_dir / "results.jsonl")
    assert [r["id"] for r in results] == ["tone-440", "tone-880"]
    assert json.loads((run_dir / "metrics.json").read_text())["errors"] == 2


def test_failed_items_are_retried_when_the_run_is_repeated(make_config: MakeConfig) -> None:
    config = make_config(
        reasoner={"name": "scripted", "config": {"errors": {"music-mood": "timeout"}}},
    )
    first = commands.run(config)
    assert first.metrics["errors"] == 1

    again = commands.run(config)
    assert again.resumed == 5 and again.processed == 1
    assert again.reasoner.computed == 0 and again.reasoner.failed == 1  # the error is not cached
    assert len(lines(again.run_dir / "results.jsonl")) == 6  # compacted: one line per item


def test_truncated_answer_is_flagged_and_cached(make_config: MakeConfig, tmp_path: Path) -> None:
    config = make_config(
        reasoner={
            "name": "scripted",
            "config": {"truncated": ["tone-440"], "answers": {"tone-440": "Let me think about"}},
        }
    )
    first = commands.run(config)
    assert first.metrics["truncated"] == 1
    assert lines(first.run_dir / "results.jsonl")[0]["truncated"] is True

    again = commands.run(
        config.model_copy(update={"run": config.run.model_copy(update={"run_dir": tmp_path / "b"})})
    )
    assert again.reasoner.computed == 0 and again.reasoner.reused == 6
    assert again.metrics["truncated"] == 1  # still flagged when read back from the cache


def test_corrupt_audio_is_an_item_error_naming_the_file(
    make_config: MakeConfig, bench: Path
) -> None:
    (bench.parent / "audio" / "music-mood.wav").write_bytes(b"RIFF not really a wav file")
    summary = commands.run(make_config())

    result = {r["id"]: r for r in lines(summary.run_dir / "results.jsonl")}["music-mood"]
    assert "music-mood.wav" in result["error"]
    assert result["error_stage"] == "stage:scripted"
    assert summary.metrics["errors"] == 1


def test_partial_last_line_is_dropped_on_resume(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text('{"id": "a", "error": null}\n{"id": "b", "err')
    assert set(read_results(path, repair=True)) == {"a"}
    assert path.read_text() == '{"id": "a", "error": null}\n'


def test_killed_run_resumes_without_redoing_items(make_config: MakeConfig, tmp_path: Path) -> None:
    config = make_config(
        reasoner={
            "name": "scripted",
            "config": {"default": "ANSWER: A"},
            "runtime": {"delay_s": 0.4},
        },
        run={"batch_size": 1, "run_dir": str(tmp_path / "killed")},
    )
    config_path = tmp_path / "run.yaml"
    config_path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    command = [sys.executable, "-m", "cascade.cli", "run", "--config", str(config_path)]
    results = tmp_path / "killed" / "results.jsonl"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if results.is_file() and len(results.read_text().splitlines()) >= 3:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_before = len(read_results(results))
    assert 3 <= done_before < 6

    finished = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    summary = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert summary["resumed"] == done_before
    assert summary["reasoner"]["computed"] + summary["reasoner"]["reused"] == 6 - done_before
    final = lines(results)
    assert [r["id"] for r in final] == [i[0] for i in ITEMS]


@pytest.mark.parametrize("schedule", ["sequential", "frontend-first"])
def test_schedules_agree_and_order_the_stages(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, schedule: str
) -> None:
    calls: list[str] = []
    describe, generate = ScriptedCaptioner.describe, ScriptedReasoner.generate
    monkeypatch.setattr(
        ScriptedCaptioner, "describe", lambda s, b: calls.append("describe") or describe(s, b)
    )
    monkeypatch.setattr(
        ScriptedReasoner, "generate", lambda s, r: calls.append("generate") or generate(s, r)
    )
    overlapped = commands.run(make_config(run={"batch_size": 2}))
    calls.clear()
    other = commands.run(
        make_config(
            run={"batch_size": 2, "schedule": schedule, "run_dir": str(tmp_path / "other")},
            cache_dir=str(tmp_path / "other-cache"),
        )
    )

    def strip(path: Path) -> list[dict[str, object]]:
        return [{k: v for k, v in r.items() if k != "timings"} for r in lines(path)]

    assert strip(overlapped.run_dir / "results.jsonl") == strip(other.run_dir / "results.jsonl")
    assert overlapped.frontend.computed == other.frontend.computed == 6
    assert other.frontend.reused == 0
    expected = {
        "sequential": ["describe", "generate"] * 3,
        "frontend-first": ["describe"] * 3 + ["generate"] * 3,
    }
    assert calls == expected[schedule]
