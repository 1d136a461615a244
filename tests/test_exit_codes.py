"""Exit codes of `run`, `ablate`, `score` and `judge` (cascade.core.ExitCode), through the CLI.

0 only when every item has an answer (or a judgement); 3 when the work finished with items
without one (every output written first); 4 when the work stopped; 1 for an error. The HTTP cases
run the real `openai` reasoner against the local fault-injecting server of test_reasoner_openai.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from cascade import commands
from cascade.cli import app
from cascade.core import ExitCode
from cascade.run import RunConfig
from tests.conftest import ITEMS, MakeConfig, write_benchmark
from tests.test_reasoner_openai import FaultServer, Reply

runner = CliRunner()
Serve = Callable[..., FaultServer]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Start a fault-injecting server replying from the given script; stopped after the test."""
    with ExitStack() as servers:
        yield lambda *script: servers.enter_context(FaultServer(list(script)))


def run_cli(config: RunConfig, tmp_path: Path, *args: str) -> Result:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return runner.invoke(app, ["run", "--config", str(path), *args])


def results(run_dir: Path) -> dict[str, dict[str, Any]]:
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    return {r["id"]: r for r in map(json.loads, lines)}


def only_run_dir(tmp_path: Path) -> Path:
    (found,) = (tmp_path / "runs").iterdir()
    return found


def openai_reasoner(url: str, **runtime: Any) -> dict[str, Any]:
    options = {
        "base_url": url,
        "concurrency": 6,
        "timeout_s": 5.0,
        "max_retries": 0,  # retries are tested in test_reasoner_openai.py
    }
    return {"name": "openai", "config": {"model": "test-model"}, "runtime": options | runtime}


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there any more: connection refused


def test_a_run_where_every_item_has_an_answer_exits_0(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    result = run_cli(make_config(), tmp_path)
    assert result.exit_code == ExitCode.OK, result.output
    assert "have no answer" not in result.output


@pytest.mark.parametrize(
    ("case", "replies", "runtime", "error"),
    [
        ("http-500", [Reply(status=500)] * 12, {}, "HTTP 500"),
        ("http-401", [Reply(status=401)] * 6, {}, "HTTP 401"),
        ("hang", [Reply(delay_s=1.0)] * 12, {"timeout_s": 0.2}, "timeout"),
    ],
)
def test_every_item_failing_on_the_server_exits_3_with_a_count(
    serve: Serve,
    make_config: MakeConfig,
    tmp_path: Path,
    case: str,
    replies: list[Reply],
    runtime: dict[str, Any],
    error: str,
) -> None:
    server = serve(*replies)
    config = make_config(reasoner=openai_reasoner(server.url, **runtime), run__batch_size=6)
    result = run_cli(config, tmp_path)

    assert result.exit_code == ExitCode.FAILED_ITEMS, result.output
    assert "6 of 6 items of test have no answer" in result.output
    assert error in result.output  # the first error is named
    assert "no score: none of the 6 items has an answer" in result.stdout
    assert "accuracy" not in result.stdout  # no score table that looks like a real score
    run_dir = only_run_dir(tmp_path)
    assert all(r["error_stage"] == "reasoner" for r in results(run_dir).values())
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["unanswered"] == 6
    assert "6 of 6 items have no answer" in (run_dir / "report.md").read_text()
    assert "6 of 6 items have no answer" in (run_dir / "report.html").read_text()


def test_a_refused_connection_exits_3(make_config: MakeConfig, tmp_path: Path) -> None:
    pytest.importorskip("langchain_openai")
    config = make_config(reasoner=openai_reasoner(closed_port_url(), max_retries=0))
    result = run_cli(config, tmp_path)
    assert result.exit_code == ExitCode.FAILED_ITEMS, result.output
    assert "6 of 6 items of test have no answer" in result.output


def test_an_all_failing_front_end_exits_3(make_config: MakeConfig, tmp_path: Path) -> None:
    failing = {"name": "scripted", "config": {"fail": [i[0] for i in ITEMS]}}
    result = run_cli(make_config(captioners=[failing]), tmp_path)
    assert result.exit_code == ExitCode.FAILED_ITEMS, result.output
    assert "6 of 6 items of test have no answer" in result.output
    assert (
        "first failure of each stage: tone-440: stage scripted: scripted failure" in result.output
    )


def test_some_failed_items_exit_3_after_every_output_is_written(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    config = make_config(reasoner={"config": {"errors": {"mix-6": "HTTP 400: bad request"}}})
    result = run_cli(config, tmp_path)
    assert result.exit_code == ExitCode.FAILED_ITEMS, result.output
    assert "1 of 6 items have no answer" in result.stdout
    assert "strict" in result.stdout  # the table of the five answered items is shown
    run_dir = only_run_dir(tmp_path)
    for name in ("predictions.json", "metrics.json", "summary.json", "report.md", "report.html"):
        assert (run_dir / name).is_file(), name


def test_the_failure_rate_limit_is_a_stop_exit_4(make_config: MakeConfig, tmp_path: Path) -> None:
    config = make_config(
        reasoner={"config": {"errors": {i[0]: "HTTP 500" for i in ITEMS}}},
        run={"min_items_for_failure_rate": 2},
    )
    result = run_cli(config, tmp_path)
    assert result.exit_code == ExitCode.STOPPED, result.output
    assert "max_failure_rate" in result.output


TWELVE = [(f"tone-{n}", "sound", "Signal Layer", ["low", "high"], "high") for n in range(12)]


def test_empty_answers_are_errors_never_resumed_and_retried(
    serve: Serve, make_config: MakeConfig, tmp_path: Path
) -> None:
    meta = write_benchmark(tmp_path / "twelve", TWELVE)
    bench = {"name": "demo", "meta": str(meta), "audio_root": str(meta.parent)}
    empty = serve(*[Reply(content="")] * 12)
    config = make_config(benchmark=bench, reasoner=openai_reasoner(empty.url), run__batch_size=12)
    first = run_cli(config, tmp_path)

    # Twelve empty answers pass the failure-rate limit (10 items, 20%): a stop.
    assert first.exit_code == ExitCode.STOPPED, first.output
    run_dir = only_run_dir(tmp_path)
    recorded = results(run_dir)
    assert len(recorded) == 12
    for result in recorded.values():
        assert result["error"].startswith("reasoner: empty answer")
        assert result["error_stage"] == "reasoner" and result["raw_answer"] is None
    assert json.loads((run_dir / "metrics.json").read_text())["errors"] == 12

    answering = serve(*[Reply(content="ANSWER: B")] * 12)
    config = make_config(
        benchmark=bench,
        reasoner=openai_reasoner(answering.url),  # the server is not in the run's identity
        run__batch_size=12,
    )
    again = run_cli(config, tmp_path)
    assert again.exit_code == ExitCode.OK, again.output
    assert "answers computed 12, re-used 0" in again.stdout  # every empty answer retried
    assert len(answering.seen) == 12
    assert all(r["error"] is None for r in results(run_dir).values())


def test_an_empty_answer_an_older_run_wrote_is_retried(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    config = make_config()
    assert run_cli(config, tmp_path).exit_code == ExitCode.OK
    run_dir = only_run_dir(tmp_path)
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    old = json.loads(lines[0]) | {"raw_answer": "  ", "error": None, "finish_reason": "stop"}
    (run_dir / "results.jsonl").write_text("\n".join([json.dumps(old), *lines[1:]]) + "\n")

    again = run_cli(config, tmp_path)
    assert again.exit_code == ExitCode.OK, again.output
    assert "resumed 5, processed 1" in again.stdout
    assert results(run_dir)["tone-440"]["raw_answer"] == "Thinking...\nANSWER: B"


def test_whitespace_answers_from_a_scripted_reasoner_are_errors(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    config = make_config(reasoner={"config": {"answers": {"tone-440": " \n"}}})
    result = run_cli(config, tmp_path)
    assert result.exit_code == ExitCode.FAILED_ITEMS, result.output
    assert "1 of 6 items of test have no answer" in result.output
    recorded = results(only_run_dir(tmp_path))["tone-440"]
    assert recorded["error"].startswith("reasoner: empty answer")
    assert recorded["error_stage"] == "reasoner"

    again = run_cli(config, tmp_path)  # retried, not resumed
    assert again.exit_code == ExitCode.FAILED_ITEMS, again.output
    assert "resumed 5, processed 1" in again.stdout


# --- score --------------------------------------------------------------------------------------


def test_score_of_a_run_with_failed_items_exits_3(make_config: MakeConfig, tmp_path: Path) -> None:
    config = make_config(reasoner={"config": {"errors": {"mix-6": "HTTP 500"}}})
    run_cli(config, tmp_path)
    result = runner.invoke(app, ["score", str(only_run_dir(tmp_path)), "--json"])
    assert result.exit_code == ExitCode.FAILED_ITEMS, result.output
    assert json.loads(result.stdout)["errors"] == 1  # the scores are printed first
    assert "1 of 6 items of test have no answer" in result.stderr


def predictions_file(tmp_path: Path, make_config: MakeConfig, edit: dict[str, Any]) -> Path:
    run_cli(make_config(), tmp_path)
    records = json.loads((only_run_dir(tmp_path) / "predictions.json").read_text())
    for record in records:
        if record["id"] in edit:
            if edit[record["id"]] is None:
                record.pop("answer_prediction")
            else:
                record["answer_prediction"] = edit[record["id"]]
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize(
    ("edit", "code"),
    [
        ({}, ExitCode.OK),
        ({"tone-440": ""}, ExitCode.FAILED_ITEMS),
        ({"tone-440": None}, ExitCode.FAILED_ITEMS),
    ],
    ids=["complete", "empty-prediction", "no-prediction"],
)
def test_score_of_a_predictions_file_exits_3_when_an_item_has_no_answer(
    tmp_path: Path, make_config: MakeConfig, edit: dict[str, Any], code: int
) -> None:
    result = runner.invoke(app, ["score", str(predictions_file(tmp_path, make_config, edit))])
    assert result.exit_code == code, result.output
    if code:
        assert "1 of 6 items of predictions have no answer" in result.output


# --- judge and ablate ---------------------------------------------------------------------------


def test_a_judge_whose_every_call_failed_exits_3(make_config: MakeConfig, bench: Path) -> None:
    from tests.test_judge import add_rubrics

    add_rubrics(bench)

    run_dir = commands.run(make_config()).run_dir
    failing = "{" + ", ".join(f"{i[0]}: HTTP 500" for i in ITEMS) + "}"
    result = runner.invoke(
        app,
        [
            "judge",
            str(run_dir),
            "--protocol",
            "ungated",
            "--judge",
            "scripted",
            "--set",
            f"config.errors={failing}",
        ],
    )
    assert result.exit_code == ExitCode.FAILED_ITEMS, result.output
    assert "5 of 6 items have no rubric score (judge-error 5" in result.output
    assert (run_dir / "judge-scripted.json").is_file()  # written before the exit


def test_an_empty_judge_reply_is_a_failed_call(make_config: MakeConfig, bench: Path) -> None:
    from tests.test_judge import add_rubrics

    add_rubrics(bench)

    run_dir = commands.run(make_config()).run_dir
    result = runner.invoke(
        app,
        [
            "judge",
            str(run_dir),
            "--protocol",
            "ungated",
            "--judge",
            "scripted",
            "--set",
            "config.default=''",
        ],
    )
    assert result.exit_code == ExitCode.FAILED_ITEMS, result.output
    written = json.loads((run_dir / "judge-scripted.json").read_text())
    assert {i["status"] for i in written["items"]} == {"judge-error", "no-rubric"}


def sweep(tmp_path: Path, make_config: MakeConfig, variations: dict[str, Any]) -> Path:
    base = make_config().model_dump(mode="json")
    base.pop("audio"), base.pop("description")
    data = {
        "name": "sw",
        "base": base,
        "output_dir": str(tmp_path / "sw"),
        "variations": variations,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_ablate_exits_0_when_every_variation_answered_everything(
    tmp_path: Path, make_config: MakeConfig
) -> None:
    path = sweep(tmp_path, make_config, {"direct": ["reasoner.config.default='ANSWER: A'"]})
    result = runner.invoke(app, ["ablate", str(path)])
    assert result.exit_code == ExitCode.OK, result.output


def test_ablate_with_a_variation_that_failed_items_exits_3_with_its_table(
    tmp_path: Path, make_config: MakeConfig
) -> None:
    broken = ["reasoner.config.errors={tone-440: HTTP 500, mix-6: HTTP 500}"]
    path = sweep(tmp_path, make_config, {"broken": broken})
    result = runner.invoke(app, ["ablate", str(path)])
    assert result.exit_code == ExitCode.FAILED_ITEMS, result.output
    assert "variation broken: 2 of 6 items have no answer" in result.output
    assert (tmp_path / "sw" / "table.csv").is_file()  # the sweep's outputs are written


def test_ablate_with_a_stopped_variation_exits_4(tmp_path: Path, make_config: MakeConfig) -> None:
    errors = "{" + ", ".join(f"{i[0]}: HTTP 500" for i in ITEMS) + "}"
    stopped = [f"reasoner.config.errors={errors}", "run.min_items_for_failure_rate=2"]
    path = sweep(tmp_path, make_config, {"stopped": stopped})
    result = runner.invoke(app, ["ablate", str(path)])
    assert result.exit_code == ExitCode.STOPPED, result.output
    assert "variation stopped failed" in result.output


def test_an_interrupted_run_writes_its_outputs_and_exits_4(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    config = make_config(
        # Slow enough that the interrupt lands mid-run even on a loaded machine.
        reasoner={"config": {"default": "ANSWER: A"}, "runtime": {"delay_s": 1.5}},
        run={"batch_size": 1, "run_dir": str(tmp_path / "stopped")},
    )
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    command = [sys.executable, "-m", "cascade.cli", "run", "--config", str(path)]
    results_path = tmp_path / "stopped" / "results.jsonl"
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell's background job inherits SIGINT ignored, and Python keeps it so: restore the
        # default, so that the test does not depend on how the suite was started.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 300  # start-up alone can take a minute on a loaded machine
    while not (results_path.is_file() and results_path.read_text().splitlines()):
        assert time.monotonic() < deadline and process.poll() is None, "no result line came"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == ExitCode.STOPPED, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    summary = json.loads((tmp_path / "stopped" / "summary.json").read_text())
    assert summary["stopped"] == "interrupted"
    assert 1 <= summary["processed"] < 6
    assert (tmp_path / "stopped" / "report.html").is_file()
