"""What a person reads before and after runs, through the CLI: the plan of `cascade run --dry-run`
(counts, missing audio, requests, tokens, the worst-case cost at a set price, the claim), the
`--max-cost` limit (refused before anything runs, stopped mid-run keeping what was done), the
cost in summary.json, `cascade runs` over runs, a sweep and a damaged run directory, its page in
headless Chromium, and score tables on an 80-column terminal."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from cascade.cli import app, printing
from cascade.core import ExitCode
from cascade.run import RunConfig
from tests.conftest import ITEMS, MakeConfig
from tests.test_ablate import write_sweep
from tests.test_html_report import browse
from tests.test_reasoner_openai import FaultServer, Reply

runner = CliRunner()
R1_ROW = "MMAR (arXiv 2505.13032), cascade table: Caption + DeepSeek-R1, 55.50% avg"


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def config_file(config: RunConfig, tmp_path: Path, name: str = "run.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return path


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer([Reply(content="ANSWER: A") for _ in range(40)]) as running:
        yield running


def api_reasoner(url: str, max_tokens: int = 100) -> dict[str, Any]:
    return {
        "name": "openai",
        "config": {"model": "test-model", "max_tokens": max_tokens},
        "runtime": {"base_url": url, "concurrency": 2, "timeout_s": 5.0, "max_retries": 0},
    }


def test_the_plan_of_the_mission_command_on_mmar_without_audio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASCADE_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    command = ["run", "--captioner", "qwen-audio", "--reasoner", "deepseek-r1", "--benchmark"]
    command += ["mmar", "--dry-run", "--set", "run.price=0.5,2"]
    shown = invoke(*command)
    assert shown.exit_code == ExitCode.OK, shown.output
    plan = json.loads(invoke(*command, "--json").stdout)
    requests = plan["requests"]
    assert plan["benchmark"]["audio_found"] == 0 and plan["benchmark"]["audio_missing"] == 1000
    assert plan["captioners"][0]["outputs"] == {"cached": 0, "to_compute": 1000, "exact": True}
    assert (requests["requests"], requests["cached"], requests["new"]) == (1000, 0, 0)
    assert requests["at_most_new"] == 1000 and requests["max_tokens"] == 32768
    assert requests["output_tokens_worst"] == 1000 * 32768
    assert requests["tokens_counted_by"] == "approximation: characters / 4"
    expected = (requests["input_tokens"] * 0.5 + 1000 * 32768 * 2) / 1e6
    assert requests["cost_usd_worst"] == round(expected, 4)
    assert plan["reproduces"] == R1_ROW and plan["resume"]["resumes"] is False
    text = shown.stdout
    assert len(text.splitlines()) <= 40
    assert "items      1,000 (audio found 0, missing 1,000)" in text
    assert "fix: --set benchmark.audio_root=DIR" in text
    assert "cached 0, to compute 1,000" in text
    assert "requests 1,000: cached 0, new 0, at most 1,000 new" in text
    assert "budget   32,768 output tokens per request" in text
    assert f"cost     at most ${expected:,.2f} at $0.5 in / $2 out per M tokens" in text
    assert f"reproduces {R1_ROW}" in text and "run dir    runs/" in text


def test_without_a_price_the_plan_gives_tokens_and_no_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASCADE_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    shown = invoke(
        "run", "--captioner", "qwen-audio", "--reasoner", "qwen3-8b", "--benchmark", "mmar",
        "--dry-run",
    )  # fmt: skip
    assert shown.exit_code == ExitCode.OK, shown.output
    assert "cost     no price known: no price known for 'Qwen/Qwen3-8B'" in shown.stdout
    assert "output at most 16,384,000 (approximation: characters / 4)" in shown.stdout


def test_the_plan_of_a_half_cached_run_gives_its_exact_figures(
    make_config: MakeConfig, tmp_path: Path, server: FaultServer
) -> None:
    ids = [i[0] for i in ITEMS]
    # Four items heard (their captions cached), three of them answered (their answers cached).
    heard = make_config(benchmark={"ids": ids[:4]}, reasoner={"name": "scripted"})
    assert invoke("run", "--config", str(config_file(heard, tmp_path, "a.yaml"))).exit_code == 0
    answered = make_config(benchmark={"ids": ids[:3]}, reasoner=api_reasoner(server.url))
    done = invoke("run", "--config", str(config_file(answered, tmp_path, "b.yaml")))
    assert done.exit_code == ExitCode.OK, done.output
    whole = config_file(make_config(reasoner=api_reasoner(server.url)), tmp_path, "c.yaml")
    asked = len(server.seen)

    result = invoke("run", "--config", str(whole), "--dry-run", "--set", "run.price=2,4", "--json")
    assert result.exit_code == ExitCode.OK, result.output
    plan = json.loads(result.stdout)
    requests = plan["requests"]
    assert plan["captioners"][0]["outputs"] == {"cached": 4, "to_compute": 2, "exact": True}
    assert (requests["requests"], requests["cached"], requests["new"]) == (6, 3, 1)
    assert requests["at_most_new"] == 2 and requests["output_tokens_worst"] == 3 * 100
    # The new request's prompt is known exactly; the two unknown ones count at the mean of the
    # four known prompts (characters / 4 each, rounded up per message).
    known = requests["input_note"]
    assert "2 prompts need front-end outputs not computed yet" in known
    mean = int(known.split("(")[-1].split(" ")[0])
    assert requests["input_tokens"] - 2 * mean > 0
    assert requests["cost_usd_worst"] == round((requests["input_tokens"] * 2 + 300 * 4) / 1e6, 4)
    assert len(server.seen) == asked  # planning asks nothing

    text = invoke("run", "--config", str(whole), "--dry-run", "--set", "run.price=2,4").stdout
    assert "cached 4, to compute 2" in text
    assert "requests 6: cached 3, new 1, at most 2 new" in text
    assert "run dir" in text and "a new run" in text

    # The same command run, then planned again: it resumes, with nothing left to do.
    assert invoke("run", "--config", str(whole)).exit_code == ExitCode.OK
    again = json.loads(invoke("run", "--config", str(whole), "--dry-run", "--json").stdout)
    assert again["resume"] == {"resumes": True, "answered": 6}
    assert again["requests"]["requests"] == 0 and again["requests"]["items_answered_already"] == 6


def test_max_cost_refuses_a_run_whose_worst_case_exceeds_it(
    make_config: MakeConfig, tmp_path: Path, server: FaultServer
) -> None:
    path = config_file(make_config(reasoner=api_reasoner(server.url, max_tokens=1000)), tmp_path)
    result = invoke("run", "--config", str(path), "--max-cost", "0.01", "--set", "run.price=2,4")
    assert result.exit_code == ExitCode.ERROR, result.output
    said = " ".join(result.output.split())
    assert "the worst case of this run costs $0.03 (6 new requests of up to 1000 output" in said
    assert "more than --max-cost $0.01. Nothing was run" in said
    assert "Traceback" not in result.output and server.seen == []
    unpriced = invoke("run", "--config", str(path), "--max-cost", "1")
    assert unpriced.exit_code == ExitCode.ERROR
    assert "no price known for 'test-model'" in " ".join(unpriced.output.split())


def test_max_cost_stops_a_run_that_reaches_it_and_keeps_what_was_done(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    # The server bills 100,000 prompt tokens a request (far above the plan's estimate of the
    # prompt): at $1 per million, each answer costs $0.10.
    body = json.dumps(
        {
            "id": "x",
            "object": "chat.completion",
            "created": 0,
            "model": "test-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "ANSWER: A"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 100000, "completion_tokens": 5, "total_tokens": 100005},
        }
    )
    with FaultServer([Reply(body=body) for _ in range(10)]) as server:
        config = make_config(reasoner=api_reasoner(server.url, max_tokens=10))
        path = config_file(config, tmp_path)
        result = invoke(
            "run", "--config", str(path), "--max-cost", "0.15", "--set", "run.price=1,1"
        )
    assert result.exit_code == ExitCode.STOPPED, result.output
    assert "reaching run.max_cost=$0.15" in " ".join(result.output.split())
    (run_dir,) = (tmp_path / "runs").iterdir()
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    assert len(lines) == 2  # the first batch (2 items) reached the limit; nothing after it
    summary = json.loads((run_dir / "summary.json").read_text())
    computed = summary["cost"]["reasoner"]["computed"]
    assert computed["requests"] == 2 and computed["prompt_tokens"] == 200000
    assert summary["cost"]["total_cost_usd"] == pytest.approx(0.20001)
    assert summary["cost"]["estimate"]["cost_usd_worst"] < 0.15


def test_summary_gives_tokens_and_cost_computed_and_what_reuse_saved(
    make_config: MakeConfig, tmp_path: Path, server: FaultServer
) -> None:
    path = config_file(make_config(reasoner=api_reasoner(server.url)), tmp_path)
    first = invoke("run", "--config", str(path), "--set", "run.price=1,2")
    assert first.exit_code == ExitCode.OK, first.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    cost = json.loads((run_dir / "summary.json").read_text())["cost"]
    made = cost["reasoner"]["computed"]
    assert (made["requests"], made["prompt_tokens"], made["completion_tokens"]) == (6, 66, 42)
    assert cost["total_cost_usd"] == pytest.approx((66 * 1 + 42 * 2) / 1e6)
    assert cost["stages"]["scripted"]["cost_usd"] is None
    said = " ".join(first.stdout.split())
    assert "tokens of the 6 answers computed: prompt 66 (cached 0), completion 42" in said
    page = (run_dir / "report.html").read_text()
    assert "tokens of the 6 answers computed" in page

    # Another run directory over the same cache re-uses every answer: it costs nothing and
    # says what the re-use saved.
    again = invoke("run", "--config", str(path), "--set", "run.price=1,2", "--run-dir",
                   str(tmp_path / "again"))  # fmt: skip
    assert again.exit_code == ExitCode.OK
    cost = json.loads((tmp_path / "again" / "summary.json").read_text())["cost"]
    assert cost["total_cost_usd"] == 0 and cost["reasoner"]["reused"]["requests"] == 6
    assert cost["reasoner"]["reused"]["saved_usd"] == pytest.approx((66 + 84) / 1e6)


@pytest.fixture
def runs_folder(tmp_path: Path, make_config: MakeConfig) -> Path:
    """runs/ with a run, a damaged copy of it, and a sweep of two variations."""
    path = config_file(make_config(), tmp_path)
    assert invoke("run", "--config", str(path)).exit_code == ExitCode.OK
    (run_dir,) = (tmp_path / "runs").iterdir()
    damaged = tmp_path / "runs" / "damaged-run"
    shutil.copytree(run_dir, damaged)
    (damaged / "config.yaml").write_text("config: [unclosed\n")
    sweep = write_sweep(tmp_path, make_config)
    data = yaml.safe_load(sweep.read_text())
    data["output_dir"] = str(tmp_path / "runs" / "ablations" / "sw")
    sweep.write_text(yaml.safe_dump(data, sort_keys=False))
    assert invoke("ablate", str(sweep), "--only", "worse").exit_code == ExitCode.OK
    return tmp_path / "runs"


def test_runs_lists_runs_a_sweep_and_a_damaged_run_directory(runs_folder: Path) -> None:
    result = invoke("runs", str(runs_folder), "--json")
    assert result.exit_code == ExitCode.OK, result.output
    rows = {
        (r["sweep"], r["variation"] or r["name"].split("-")[0]): r
        for r in json.loads(result.stdout)
    }
    assert set(rows) == {(None, "test"), (None, "damaged"), ("sw", "base"), ("sw", "worse")}
    run = rows[(None, "test")]
    assert run["status"] == "finished" and run["benchmark"] == "demo" and run["items"] == 6
    assert run["accuracy"] == {"official": 1.0, "strict": 1.0, "lenient": 1.0}
    assert run["random_expectation"] == pytest.approx(
        sum(1 / len(i[3]) for i in ITEMS) / len(ITEMS)
    )
    assert rows[(None, "damaged")]["status"].startswith("damaged: ")
    assert "config.yaml" in rows[(None, "damaged")]["status"]
    worse = rows[("sw", "worse")]
    metrics = json.loads((Path(worse["path"]) / "metrics.json").read_text())
    assert worse["accuracy"]["strict"] == metrics["scorers"]["strict"]["overall"]["accuracy"]
    assert worse["ci95"]["strict"] == metrics["scorers"]["strict"]["overall"]["ci95"]
    assert worse["accuracy"]["strict"] < rows[("sw", "base")]["accuracy"]["strict"]
    text = invoke("runs", str(runs_folder))
    assert text.exit_code == ExitCode.OK and "Traceback" not in text.output
    assert "damaged: " in text.output and "(sweep sw, worse)" in text.output
    missing = invoke("runs", str(runs_folder / "nope"))
    assert missing.exit_code == ExitCode.ERROR and "is not a folder" in missing.output


def test_score_tables_stay_readable_at_80_columns(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(printing.console, "width", 80)
    result = invoke("run", "--config", str(config_file(make_config(), tmp_path)))
    assert result.exit_code == ExitCode.OK, result.output
    rows = [line for line in result.stdout.splitlines() if line.lstrip().startswith("official")]
    assert len(rows) == 1, result.stdout  # one line: no cell wrapped onto a second line
    assert "100.00* [60.97, 100.00]" in rows[0] and all(
        len(line) <= 80 for line in result.stdout.splitlines()
    )


@pytest.mark.slow
def test_the_runs_page_sorts_filters_and_links_in_a_real_browser(
    runs_folder: Path, tmp_path: Path
) -> None:
    page = tmp_path / "runs.html"
    assert invoke("runs", str(runs_folder), "--html", str(page)).exit_code == ExitCode.OK
    html = page.read_text()
    assert "Caption + DeepSeek-R1" not in html  # the demo benchmark has no published rows
    dom = browse(page, "q=sw", tmp_path, "--dump-dom")
    shown = [line for line in dom.split("<tr ") if "hidden" not in line.split(">")[0]]
    assert "2 of 4 rows" in dom and len(shown) - 1 == 2  # the header row split off first
    ordered = browse(page, "sort=strict-", tmp_path, "--dump-dom")
    values = [float(v) for v in re.findall(r'data-strict="([0-9.]+)"', ordered)]
    assert len(values) == 3 and values == sorted(values, reverse=True) and values[0] == 1.0
    original = [float(v) for v in re.findall(r'data-strict="([0-9.]+)"', html)]
    assert original != values  # the folder order was another: the page sorted it
    for row_dir in runs_folder.iterdir():
        if (row_dir / "report.html").is_file():
            assert f'href="runs/{row_dir.name}/report.html"' in html
