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
from cascade.core import ExitCode, benchmark_by_name
from cascade.run.config import validate
from cascade.scoring import reasoning_before_answer
from cascade.testing import sine
from tests.judge_server import TIMEOUT_S, StandInJudge, untagged_key

GOLDEN = json.loads((Path(__file__).parent / "data" / "rubrics_golden.json").read_text("utf-8"))
FAST = ["--qps", "500", "--timeout", str(TIMEOUT_S), "--retry-interval", "0"]
"""The options the goldens were made with (scripts/make_rubrics_golden.py OPTIONS)."""
META = {
    r["id"]: r
    for r in (
        json.loads(line)
        for line in benchmark_by_name("mmar")
        .data_file("MMAR-meta.jsonl")
        .read_text("utf-8")
        .splitlines()
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
    assert_parity(
        read_lines(Path(f"{file}.evaluated.jsonl")), bodies(server), list(GOLDEN["items"])
    )
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
    records = [
        r for r in GOLDEN["predictions"] if "thinking_prediction" in r and "answer_prediction" in r
    ]
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
    items_asked = {b["messages"][1]["content"].split("[item ")[1].split("]")[0] for b in sent_again}
    assert items_asked <= failed and items_asked
    second = read_lines(output)
    assert {k: v["score"] for k, v in first.items()} == {
        k: v["score"] for k, v in second.items() if k in first
    }
    # the `[judge 400]` item failed only its first call: judged now; the others fail again
    assert set(second) - set(first) == {next(i for i in failed if "NscY5s3yxiU" in i)}
    assert again.exit_code == ExitCode.FAILED_ITEMS, again.output


def right_answers(mode: str, count: int = 3) -> list[dict[str, Any]]:
    """`count` shipped items answered right, whose reasoning asks the stand-in judge for `mode`."""
    items = list(META.values())[:count]
    return [
        {
            "id": item["id"],
            "thinking_prediction": f"[item {item['id']}] [judge {mode}] I heard the cue.",
            "answer_prediction": item["answer"],
        }
        for item in items
    ]


@pytest.mark.parametrize(
    ("mode", "says"),
    [("401", "refused the API key; check the key in OPENAI_API_KEY"), ("quota", "no quota left")],
)
def test_a_refused_key_or_an_exhausted_quota_stops_the_command(
    tmp_path: Path, judge_server: tuple[StandInJudge, dict[str, str]], mode: str, says: str
) -> None:
    _server, env = judge_server
    file = write_predictions(
        tmp_path / "p.json", right_answers("ok", 2) + right_answers(mode, 4)[2:]
    )

    result = runner.invoke(app, ["judge", str(file), *FAST, "--max-workers", "1"], env=env)

    assert result.exit_code == ExitCode.ERROR, result.output
    assert says in result.output and "Traceback" not in result.output
    assert len(read_lines(Path(f"{file}.evaluated.jsonl"))) == 2  # judged before the stop: kept


def test_max_calls_stops_before_exceeding_the_budget(
    tmp_path: Path, judge_server: tuple[StandInJudge, dict[str, str]]
) -> None:
    server, env = judge_server
    file = write_predictions(tmp_path / "p.json", right_answers("ok", 3))

    result = runner.invoke(
        app, ["judge", str(file), *FAST, "--max-calls", "7", "--max-workers", "1"], env=env
    )

    assert result.exit_code == ExitCode.STOPPED, result.output
    assert "--max-calls 7" in result.output
    assert len(server.received.bodies) == 7
    assert len(read_lines(Path(f"{file}.evaluated.jsonl"))) == 1


def test_five_raters_get_five_replies_each_cached_by_rater_and_attempt(
    tmp_path: Path, judge_server: tuple[StandInJudge, dict[str, str]]
) -> None:
    server, env = judge_server
    file = write_predictions(tmp_path / "p.json", right_answers("ok", 3))
    runner.invoke(app, ["judge", str(file), *FAST], env=env)
    first = read_lines(Path(f"{file}.evaluated.jsonl"))
    assert len(server.received.bodies) == 15
    assert all(len(set(line["raw_responses"])) == 5 for line in first.values())

    again = runner.invoke(
        app, ["judge", str(file), *FAST, "--output", str(tmp_path / "again.jsonl")], env=env
    )

    assert again.exit_code == 0, again.output
    assert len(server.received.bodies) == 15  # every reply re-used, none asked again
    second = read_lines(tmp_path / "again.jsonl")
    assert {k: v["rater_scores"] for k, v in second.items()} == {
        k: v["rater_scores"] for k, v in first.items()
    }


def test_dry_run_counts_calls_and_prices_them_without_asking(
    tmp_path: Path, judge_server: tuple[StandInJudge, dict[str, str]]
) -> None:
    server, env = judge_server
    file = write_predictions(tmp_path / "bare.json")
    right = sum(1 for g in GOLDEN["items"].values() if g.get("calls"))  # the script asked

    shown = runner.invoke(app, ["judge", str(file), "--dry-run"], env=env)
    priced = runner.invoke(app, ["judge", str(file), "--dry-run", "--price", "1,2"], env=env)
    other = runner.invoke(app, ["judge", str(file), "--dry-run", "--judge", "qwen3-8b"], env=env)
    # A preset judge is priced by the model it calls (deepseek-r1 calls deepseek-reasoner).
    r1 = runner.invoke(app, ["judge", str(file), "--dry-run", "--judge", "deepseek-r1"], env=env)

    assert shown.exit_code == 0, shown.output
    plan = json.loads(shown.output)
    assert (plan["to_judge"], plan["calls"]) == (right, 5 * right)
    assert plan["cost_usd_estimate"] == pytest.approx(
        (plan["input_tokens_estimate"] * 2.5 + plan["output_tokens_estimate"] * 10) / 1e6, abs=0.01
    )
    assert "aicoach.pw" in plan["price"]["source"]
    assert json.loads(priced.output)["price"]["input_per_mtok"] == 1.0
    assert json.loads(other.output)["cost_usd_estimate"] is None  # no known price: none shown
    assert json.loads(r1.output)["price"]["input_per_mtok"] == 0.55
    assert "not the official judge" in json.loads(other.output)["label"]
    assert server.received.bodies == []


def test_without_the_key_the_official_judge_names_the_variable(tmp_path: Path) -> None:
    file = write_predictions(tmp_path / "p.json", right_answers("ok", 1))

    result = runner.invoke(
        app, ["judge", str(file)], env={"OPENAI_API_KEY": "", "CASCADE_CACHE": str(tmp_path)}
    )

    assert result.exit_code == ExitCode.ERROR
    assert "OPENAI_API_KEY" in result.output and "Traceback" not in result.output


def test_another_judge_is_named_in_the_number_and_never_called_mmar_rubrics(
    tmp_path: Path,
) -> None:
    record = right_answers("ok", 1)[0]
    rubric = META[record["id"]]["rubric"]
    reply = json.dumps([{"name": p["name"], "score": 1, "justification": "ok"} for p in rubric])
    file = write_predictions(tmp_path / "p.json", [record])

    result = runner.invoke(
        app,
        ["judge", str(file), "--judge", "scripted", "--set", f"config.default={json.dumps(reply)}"],
        env={"CASCADE_CACHE": str(tmp_path / "cache")},
    )

    assert result.exit_code == 0, result.output
    assert "MMAR-Rubrics protocol, judge scripted (not the official judge)" in result.output
    line = read_lines(Path(f"{file}.evaluated-scripted.jsonl"))[record["id"]]
    assert line["score"] == 1.0 and line["judge"] == "scripted"


def test_the_request_rate_halves_on_a_limit_never_below_a_sixteenth_and_recovers() -> None:
    now = [0.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    rate = AdaptiveRate(8.0, clock=lambda: now[0], sleep=sleep)

    async def three() -> None:
        for _ in range(3):
            await rate.acquire()

    asyncio.run(three())
    assert waits == [pytest.approx(1 / 8)] * 2
    for expected in (4.0, 2.0, 1.0, 0.5, 0.5):
        rate.slower()
        assert rate.current == expected
    rate.faster()
    assert rate.current == 1.0
    for _ in range(20):
        rate.faster()
    assert rate.current == 8.0


@pytest.mark.parametrize(
    ("answer", "reasoning"),
    [
        ("I hear a dog.\nIt barks twice.\nANSWER: B", "I hear a dog.\nIt barks twice."),
        ("ANSWER: A\nOn reflection no.\nANSWER: B", "ANSWER: A\nOn reflection no."),
        ("The dog barks.\n\nB", "The dog barks."),
        ("ANSWER: B", ""),
        ("B", ""),
    ],
    ids=["before-answer-line", "last-answer-line", "last-line", "answer-only", "bare"],
)
def test_the_reasoning_a_judge_reads_is_the_text_before_the_final_answer_line(
    answer: str, reasoning: str
) -> None:
    assert reasoning_before_answer(answer) == reasoning


def test_compare_pairs_rubric_scores_of_runs_judged_the_same_way(tmp_path: Path) -> None:
    from cascade.run import RunDir

    runs = []
    for name, scores in (
        ("a", [0.0, 0.2, 0.4, 0.2, 0.0, 0.6]),
        ("b", [0.6, 0.8, 1.0, 0.8, 0.4, 1.0]),
    ):
        run_dir = mmar_like_run(tmp_path / name, len(scores))
        files = RunDir(run_dir).rubrics_files("official")
        ids = [r["id"] for r in json.loads((run_dir / "predictions.json").read_text())]
        files["jsonl"].write_text(
            "".join(
                json.dumps({"id": i, "score": s}) + "\n" for i, s in zip(ids, scores, strict=True)
            )
        )
        files["json"].write_text(json.dumps({"label": "MMAR-Rubrics"}))
        runs.append(str(run_dir))

    result = runner.invoke(app, ["compare", *runs, "--json"])

    assert result.exit_code == 0, result.output
    (pair,) = json.loads(result.output)["rubrics"]
    assert pair["judged_by"] == "MMAR-Rubrics" and pair["n"] == 6
    assert pair["difference"] == pytest.approx((4.6 - 1.4) / 6)
    assert pair["p_value"] == pytest.approx(0.03125)  # Wilcoxon, six differences of one sign


def mmar_like_run(root: Path, count: int) -> Path:
    (root / "audio").mkdir(parents=True)
    lines = []
    for item in list(META.values())[:count]:
        sine(root / "audio" / f"{item['id']}.wav", frequency=440.0, seconds=0.1)
        lines.append({**item, "audio_path": f"./audio/{item['id']}.wav"})
    meta = root / "meta.jsonl"
    meta.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = validate(
        {
            "name": root.name,
            "benchmark": {"name": "demo", "meta": str(meta), "audio_root": str(root)},
            "captioners": [{"name": "scripted"}],
            "reasoner": {"name": "scripted"},
            "run": {"output_dir": str(root / "runs")},
            "cache_dir": str(root / "cache"),
        }
    )
    return commands.run(config).run_dir
