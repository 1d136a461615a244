"""The `cascade` command: help without model libraries, score, compare, list, cache, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from cascade import commands
from cascade.cli import app
from cascade.core import BenchmarkSpec, benchmark_by_name
from cascade.core import token_set_match as official_match
from tests.conftest import ITEMS, MakeConfig

runner = CliRunner()


def test_help_imports_no_model_library() -> None:
    code = (
        "import sys\n"
        "from cascade.cli import app\n"
        "from typer.testing import CliRunner\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "heavy = {'torch', 'transformers', 'vllm', 'faster_whisper', 'onnxruntime', 'librosa'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_run_from_a_config_file_prints_the_summary(make_config: MakeConfig, tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(make_config().model_dump(mode="json")))
    result = runner.invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 0, result.output
    assert "strict" in result.stdout and "100.00*" in result.stdout
    assert "answers computed 6, re-used 0" in result.stdout


def test_dry_run_prints_the_plan_and_loads_nothing(make_config: MakeConfig, tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(make_config().model_dump(mode="json")))
    result = runner.invoke(app, ["run", "--config", str(path), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout)
    assert described["benchmark"]["items"] == 6
    assert described["reasoner"]["component"] == "scripted"
    assert described["prompts"]["answer"] == "mcq_cot v2"
    assert not (tmp_path / "runs").exists()


def test_config_error_is_one_paragraph_and_exit_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", "--config", "no-such-config"])
    assert result.exit_code == 1
    assert "error: no run config 'no-such-config'" in result.stderr
    assert "Traceback" not in result.output


def official_style_predictions(tmp_path: Path) -> Path:
    """All 1000 MMAR items; the prediction is the right option text on every third item."""
    items = benchmark_by_name("mmar").load(BenchmarkSpec(name="mmar"), need_audio=False).items
    records = []
    for index, item in enumerate(items):
        wrong = next(c for c in item.choices if c != item.answer)
        records.append({**item.meta, "answer_prediction": item.answer if index % 3 == 0 else wrong})
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_score_a_predictions_file(tmp_path: Path) -> None:
    path = official_style_predictions(tmp_path)
    result = runner.invoke(app, ["score", str(path), "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    official = metrics["scorers"]["official"]["overall"]
    # The official rule also accepts some wrong options (a wrong option whose words are all in the
    # answer); the lenient ladder picks exactly the option written.
    records = [json.loads(line) for line in path.read_text().splitlines()]
    expected = sum(
        official_match(r["answer"], r["answer_prediction"], r["choices"]) for r in records
    )
    assert official["n"] == 1000 and official["correct"] == expected > 334
    assert metrics["scorers"]["lenient"]["overall"]["correct"] == 334
    assert metrics["missing_prediction"] == []


def test_score_a_run_directory_matches_its_metrics(make_config: MakeConfig) -> None:
    summary = commands.run(make_config())
    result = runner.invoke(app, ["score", str(summary.run_dir), "--json"])
    assert result.exit_code == 0, result.output
    rescored = json.loads(result.stdout)
    assert rescored["scorers"] == summary.metrics["scorers"]


def test_compare_two_runs_lists_flips(make_config: MakeConfig) -> None:
    good = commands.run(make_config())
    bad = commands.run(make_config(reasoner={"config": {}}))  # always "ANSWER: A"
    result = runner.invoke(app, ["compare", str(good.run_dir), str(bad.run_dir), "--json"])
    assert result.exit_code == 0, result.output
    compared = json.loads(result.stdout)
    strict = next(p for p in compared["paired"] if p["scorer"] == "strict")
    assert strict["n"] == 6
    assert sorted(strict["to_wrong"]) == sorted(i[0] for i in ITEMS)  # no answer is A
    assert strict["to_correct"] == []


def test_list_and_cache_ls(make_config: MakeConfig, tmp_path: Path) -> None:
    listed = runner.invoke(app, ["list"])
    assert listed.exit_code == 0, listed.output
    assert "scripted" in listed.stdout and "mmar" in listed.stdout and "mcq_cot" in listed.stdout

    commands.run(make_config())
    shown = runner.invoke(app, ["cache", "ls", "--cache-dir", str(tmp_path / "cache")])
    assert shown.exit_code == 0, shown.output
    assert "stages/scripted" in shown.stdout and "reasoners/scripted" in shown.stdout


def test_dry_run_of_the_paper_row_loads_no_model_library() -> None:
    code = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from cascade.cli import app\n"
        "args = ['run', '--captioner', 'qwen-audio', '--reasoner', 'deepseek-r1', '--dry-run',\n"
        "        '--json']\n"
        "result = CliRunner().invoke(app, args)\n"
        "assert result.exit_code == 0, result.output\n"
        "plan = json.loads(result.stdout)\n"
        "heavy = {'torch', 'transformers', 'vllm', 'langchain_openai', 'openai'}\n"
        "print(json.dumps({'plan': plan, 'loaded': sorted(heavy & set(sys.modules))}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    shown = json.loads(out.stdout)
    assert shown["loaded"] == []
    plan = shown["plan"]
    assert plan["captioners"][0]["component"] == "qwen-audio"
    assert plan["captioners"][0]["config"]["model"] == "Qwen/Qwen2-Audio-7B-Instruct"
    assert plan["reasoner"]["component"] == "openai"
    assert plan["reasoner"]["config"]["model"] == "deepseek-reasoner"
    assert plan["prompts"] == {"description": "description v1", "answer": "mcq_plain v1"}
    assert plan["reproduces"] is None  # the demo benchmark is not MMAR
    assert plan["claim"]["differences"] == [
        {"setting": "benchmark.name", "required": "mmar", "actual": "demo"}
    ]
