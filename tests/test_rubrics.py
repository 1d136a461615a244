"""MMAR-Rubrics: `cascade judge` against MMAR's official script, through the CLI.

tests/data/rubrics_golden.json holds what the unmodified official script wrote, printed and sent
for 42 predictions against the stand-in judge of tests/judge_server.py (made by
scripts/make_rubrics_golden.py). Each parity test runs `cascade judge` on the same input against
a fresh stand-in judge and compares every item's score and raw replies, every request body, the
number of requests per item, and the totals.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cascade import commands
from cascade.analysis.rate_limit import AdaptiveRate
from cascade.cli import app
from cascade.core import ExitCode, shipped_file
from cascade.run.config import validate
from cascade.scoring import reasoning_before_answer, rubrics
from cascade.testing import sine
from tests.judge_server import TIMEOUT_S, StandInJudge, untagged_key

GOLDEN = json.loads((Path(__file__).parent / "data" / "rubrics_golden.json").read_text("utf-8"))
FAST = ["--qps", "500", "--timeout", str(TIMEOUT_S), "--retry-interval", "0"]
"""The options the goldens were made with (scripts/make_rubrics_golden.py OPTIONS)."""
META = {
    r["id"]: r
    for r in (
        json.loads(line)
        for line in shipped_file("mmar", "MMAR-meta.jsonl").read_text("utf-8").splitlines()
    )
}
runner = CliRunner()


@pytest.fixture
def judge_server(tmp_path: Path) -> Iterator[tuple[StandInJudge, dict[str, str]]]:
    with StandInJudge() as server:
        env = {
            "OPENAI_API_KEY": "stand-in",
            "OPENAI_BASE_URL": server.base_url,
            "CASCADE_CACHE": str(tmp_path / "cache"),
        }
        yield server, env


def write_predictions(path: Path, records: list[dict[str, Any]] | None = None) -> Path:
    path.write_text(json.dumps(records or GOLDEN["predictions"], ensure_ascii=False), "utf-8")
    return path


def read_lines(path: Path) -> dict[str, dict[str, Any]]:
    return {
        (line := json.loads(text))["id"]: line
        for text in path.read_text("utf-8").split("\n")
        if text.strip()
    }


def bodies(server: StandInJudge) -> dict[str, list[dict[str, Any]]]:
    """The request bodies the server received, by item id."""
    named = {untagged_key(META[r["id"]]["question"]): r["id"] for r in GOLDEN["predictions"]}
    return {named.get(k, k): v for k, v in server.bodies_by_item().items()}


def assert_parity(lines: dict[str, dict[str, Any]], sent: dict[str, list[Any]], ids: list[str]):
    for item_id in ids:
        golden = GOLDEN["items"][item_id]
        official = golden["evaluated"]
        ours = lines.get(item_id)
        assert (ours is None) == (official is None), item_id
        if official is not None and ours is not None:
            assert ours["score"] == official["score"], item_id
            assert ours["correct"] == official["correct"], item_id
            assert ours["raw_responses"] == official["raw_responses"], item_id
        got = sent.get(item_id, [])
        assert len(got) == golden.get("calls", 0), item_id
        assert all(body == golden["bodies"][0] for body in got), item_id


def assert_totals(summary: dict[str, Any]) -> None:
    printed = GOLDEN["totals"]
    assert f"{summary['overall']['score']:.2f}" == printed["score"]
    assert f"{summary['overall']['accuracy']:.2f}" == printed["accuracy"]
    assert summary["overall"]["n"] == printed["evaluated"]
    for table, groups in printed["groups"].items():
        ours = summary["groups"][table]
        assert set(ours) == set(groups), table
        for value, (score, accuracy, n) in groups.items():
            assert (f"{ours[value]['score']:.2f}", f"{ours[value]['accuracy']:.2f}") == (
                score,
                accuracy,
            )
            assert ours[value]["n"] == n


def test_judge_file_gives_the_official_scripts_scores_requests_and_totals(
    tmp_path: Path, judge_server: tuple[StandInJudge, dict[str, str]]
) -> None:
    server, env = judge_server
    file = write_predictions(tmp_path / "bare.json")  # only id and the two predictions

    result = runner.invoke(app, ["judge", str(file), *FAST, "--json"], env=env)

    assert result.exit_code == ExitCode.FAILED_ITEMS, result.output
    assert_parity(read_lines(Path(f"{file}.evaluated.jsonl")), bodies(server), list(GOLDEN["items"]))
    summary = json.loads(result.output[: result.output.rindex("}") + 1])
    assert_totals(summary)
    assert summary["no_prediction_count"] == GOLDEN["totals"]["no_prediction_count"]
    assert summary["label"] == "MMAR-Rubrics"
    assert set(summary["not_evaluated"]) == {
        i for i, g in GOLDEN["items"].items() if g["evaluated"] is None and g.get("calls")
    }
    assert "3 items not evaluated" in result.output and "2 without a prediction" in result.output


def mmar_run(tmp_path: Path) -> Path:
    """A scripted run over the golden's 40 MMAR items whose answers reason, then name the option
    the golden predicted (the item with an empty prediction: a failed answer)."""
    records = [r for r in GOLDEN["predictions"] if "thinking_prediction" in r and "answer_prediction" in r]
    (tmp_path / "audio").mkdir()
    lines, answers, errors = [], {}, {}
    for record in records:
        item = META[record["id"]]
        sine(tmp_path / "audio" / f"{item['id']}.wav", frequency=440.0, seconds=0.1)
        lines.append({**item, "audio_path": f"./audio/{item['id']}.wav"})
        if record["answer_prediction"] == "":
            errors[item["id"]] = "HTTP 500"
            continue
        letter = "ABCDEF"[item["choices"].index(record["answer_prediction"])]
        answers[item["id"]] = f"{record['thinking_prediction']}\nANSWER: {letter}"
    meta = tmp_path / "meta.jsonl"
    meta.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    config = validate(
        {
            "name": "mmar-golden",
            "benchmark": {"name": "demo", "meta": str(meta), "audio_root": str(tmp_path)},
            "captioners": [{"name": "scripted"}],
            "reasoner": {"name": "scripted", "config": {"answers": answers, "errors": errors}},
            "run": {"output_dir": str(tmp_path / "runs"), "batch_size": 20},
            "cache_dir": str(tmp_path / "cache"),
        }
    )
    return commands.run(config).run_dir


def test_judge_run_gives_the_official_scripts_scores_and_requests(
    tmp_path: Path, judge_server: tuple[StandInJudge, dict[str, str]]
) -> None:
    server, env = judge_server
    run_dir = mmar_run(tmp_path)
    predictions = {r["id"]: r for r in json.loads((run_dir / "predictions.json").read_text())}
    for record in GOLDEN["predictions"]:
        if record["id"] in predictions and record["answer_prediction"]:
            # the reasoning written before the answer line is what the judge reads
            assert predictions[record["id"]]["thinking_prediction"] == record["thinking_prediction"]

    result = runner.invoke(app, ["judge", str(run_dir), *FAST], env=env)

    assert result.exit_code == ExitCode.FAILED_ITEMS, result.output
    assert "MMAR-Rubrics of mmar-golden" in result.output
    lines = read_lines(run_dir / "rubrics-official.jsonl")
    assert_parity(lines, bodies(server), list(predictions))
    summary = json.loads((run_dir / "rubrics-official.json").read_text())
    assert_totals(summary)
    assert summary["no_prediction_count"] == GOLDEN["totals"]["no_prediction_count"] - 2
    assert "MMAR-Rubrics" in (run_dir / "report.md").read_text()
    assert "MMAR-Rubrics" in (run_dir / "report.html").read_text()


def test_the_same_command_again_judges_only_the_items_not_evaluated(
    tmp_path: Path, judge_server: tuple[StandInJudge, dict[str, str]]
) -> None:
    server, env = judge_server
    file = write_predictions(tmp_path / "bare.json")
    runner.invoke(app, ["judge", str(file), *FAST], env=env)
    output = Path(f"{file}.evaluated.jsonl")
    first = read_lines(output)
    before = len(server.received.bodies)

    again = runner.invoke(app, ["judge", str(file), *FAST], env=env)

    failed = {i for i, g in GOLDEN["items"].items() if g["evaluated"] is None and g.get("calls")}
    sent_again = server.received.bodies[before:]
    items_asked = {
        b["messages"][1]["content"].split("[item ")[1].split("]")[0] for b in sent_again
    }
    assert items_asked <= failed and items_asked
    second = read_lines(output)
    assert {k: v["score"] for k, v in first.items()} == {
        k: v["score"] for k, v in second.items() if k in first
    }
    # the `[judge 400]` item failed only its first call: judged now; the others fail again
    assert set(second) - set(first) == {next(i for i in failed if "NscY5s3yxiU" in i)}
    assert again.exit_code == ExitCode.FAILED_ITEMS, again.output
