"""Packages outside cascade add to its tables by entry points, as a user's package would: a
package installed on the spot (tests/plugin_dist.py) adds a benchmark of its own format, with
its own data, predictions keys and official rule, and an executor; `cascade run` runs them
end to end in a process of its own and `cascade score` reads their predictions. A broken
plug-in, or one that takes a name another owns, is one paragraph naming its package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from cascade.core import ExitCode
from cascade.core.registry import GROUPS
from cascade.testing import sine
from tests.plugin_dist import write_distribution

ROOT = Path(__file__).resolve().parents[1]

QUIZ = '''"""A benchmark in a format of its own, as a user's package ships one."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from cascade.core import BenchmarkDefinition, BenchmarkError, BenchmarkSpec, RawRecord


class Quiz(BenchmarkDefinition):
    name: ClassVar[str] = "quiz"
    prediction_keys: ClassVar[tuple[str, ...]] = ("guess",)
    thinking_key: ClassVar[str] = "why"
    format_hint: ClassVar[str] = "the quiz format (a `qid` field)"

    def fields(self, record: RawRecord) -> dict[str, Any]:
        return {
            "id": record.get("qid"),
            "audio_path": record.get("clip"),
            "question": record.get("prompt"),
            "choices": record.get("options"),
            "answer": record.get("solution"),
            "modality": record.get("kind"),
            "category": record.get("level"),
            "sub_category": record.get("skill"),
            "language": None,
        }

    def source(self, spec: BenchmarkSpec) -> tuple[Path, Path | None]:
        if spec.source != "local":
            raise BenchmarkError("quiz ships with its package")
        meta = spec.meta or self.data_file("quiz.json")
        return meta, spec.audio_root or meta.parent

    def official_match(self, answer: str, prediction: str, choices: Sequence[str]) -> bool:
        return prediction.strip().casefold() == answer.casefold()  # the option text, exactly

    def claims(self, records: Sequence[RawRecord]) -> bool:
        return all("qid" in r for r in records)
'''

QUESTIONS = [
    # qid, options, solution, scripted answer
    ("q-low", ["440 Hz", "880 Hz"], "440 Hz", "It is low.\nANSWER: A"),
    ("q-high", ["440 Hz", "880 Hz"], "880 Hz", "ANSWER: A"),
    ("q-count", ["one", "two", "three"], "three", "I heard three.\nANSWER: C"),
]


def quiz_package(site: Path) -> Path:
    """The distribution `quiz-bench` 0.1: the benchmark `quiz` with its items and clips, and
    the executor `one-at-a-time` (tests/executor_package.py)."""
    items = [
        {
            "qid": qid,
            "clip": f"clips/{qid}.wav",
            "prompt": f"What do you hear in {qid}?",
            "options": options,
            "solution": solution,
            "kind": "sound",
            "level": "Signal Layer",
            "skill": "Counting" if qid == "q-count" else "Pitch",
        }
        for qid, options, solution, _ in QUESTIONS
    ]
    write_distribution(
        site,
        "quiz-bench",
        "0.1",
        {
            GROUPS["benchmark"]: {"quiz": "quiz_bench:Quiz"},
            GROUPS["executor"]: {"one-at-a-time": "tests.executor_package:OneAtATime"},
        },
        {"quiz_bench/__init__.py": QUIZ, "quiz_bench/quiz.json": json.dumps(items)},
    )
    (site / "quiz_bench" / "clips").mkdir()
    for number, (qid, *_) in enumerate(QUESTIONS):
        sine(site / "quiz_bench" / "clips" / f"{qid}.wav", frequency=300.0 + 100 * number)
    return site


def cascade(site: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`cascade ARGS` in a process of its own, with the package folder `site` installed."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "CASCADE_CACHE": str(tmp_path / "cache"),
        "COLUMNS": "200",  # `cascade list`'s tables unwrapped
    }
    command = [sys.executable, "-m", "cascade", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path)


def config_file(tmp_path: Path, benchmark: str = "quiz") -> Path:
    config: dict[str, Any] = {
        "name": "plugin",
        "benchmark": {"name": benchmark},
        "captioners": [{"name": "scripted"}],
        "reasoner": {
            "name": "scripted",
            "config": {
                "answers": {qid: answer for qid, _, _, answer in QUESTIONS},
                "reasoning": "Listening closely.",
            },
        },
        "run": {"output_dir": str(tmp_path / "runs")},
        "cache_dir": str(tmp_path / "cache"),
    }
    path = tmp_path / "plugin.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_package_adds_a_benchmark_and_an_executor_that_run_and_score_end_to_end(
    tmp_path: Path,
) -> None:
    site = quiz_package(tmp_path / "site")
    run_dir = tmp_path / "run"
    args = ["run", "--config", str(config_file(tmp_path)), "--run-dir", str(run_dir)]

    planned = cascade(site, tmp_path, *args, "--set", "run.executor=one-at-a-time", "--dry-run")
    assert planned.returncode == ExitCode.OK, planned.stdout + planned.stderr
    assert "quiz" in planned.stdout and "one-at-a-time" in planned.stdout

    done = cascade(site, tmp_path, *args, "--set", "run.executor=one-at-a-time")
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    # Its own predictions format: its records, its prediction and reasoning keys.
    predictions = json.loads((run_dir / "predictions.json").read_text())
    assert [p["qid"] for p in predictions] == [q[0] for q in QUESTIONS]
    assert [p["guess"] for p in predictions] == ["440 Hz", "440 Hz", "three"]
    assert (
        predictions[0]["why"] == "Listening closely." and "answer_prediction" not in predictions[0]
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["benchmark"] == "quiz"
    assert metrics["scorers"]["official"]["overall"]["correct"] == 2
    assert set(metrics["scorers"]["official"]["by"]["sub-category"]) == {"Counting", "Pitch"}

    rescored = cascade(site, tmp_path, "score", str(run_dir), "--json")
    assert rescored.returncode == ExitCode.OK, rescored.stdout + rescored.stderr
    assert json.loads(rescored.stdout)["scorers"] == metrics["scorers"]

    # A predictions file of its format is read by the benchmark that claims it, and scored by
    # its official rule: the option's text exactly, where MMAR's token-set rule would take
    # "the answer is 440 Hz" as right.
    predictions[0]["guess"] = "the answer is 440 Hz"
    del predictions[1]["guess"]  # skipped, as an official scorer skips it
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(predictions))
    scored = cascade(site, tmp_path, "score", str(edited), "--json")
    assert scored.returncode == ExitCode.FAILED_ITEMS, scored.stdout + scored.stderr
    file_metrics = json.loads(scored.stdout)
    assert file_metrics["benchmark"] == "quiz"
    assert file_metrics["missing_prediction"] == ["q-high"]
    official = file_metrics["scorers"]["official"]["overall"]
    assert (official["n"], official["correct"]) == (2, 1)

    listed = cascade(site, tmp_path, "list")
    assert listed.returncode == ExitCode.OK, listed.stdout + listed.stderr
    assert "from the package quiz-bench 0.1" in listed.stdout


def test_a_plugin_that_cannot_be_imported_is_one_paragraph_naming_its_package(
    tmp_path: Path,
) -> None:
    site = write_distribution(
        tmp_path / "site",
        "broken-bench",
        "0.2",
        {GROUPS["benchmark"]: {"broken": "broken_bench:Broken"}},
        {"broken_bench/__init__.py": "import a_module_nobody_installed\n"},
    )
    done = cascade(site, tmp_path, "run", "--config", str(config_file(tmp_path, "broken")))
    assert done.returncode == ExitCode.ERROR, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "benchmark 'broken' comes from the package broken-bench 0.2" in output
    assert "a_module_nobody_installed" in output and "uninstall it" in output
    assert "Traceback" not in output

    listed = cascade(site, tmp_path, "list")  # the other entries are still listed
    assert listed.returncode == ExitCode.OK, listed.stdout + listed.stderr
    assert "a_module_nobody_installed" in listed.stdout and "mmar" in listed.stdout


def test_a_plugin_entry_that_names_no_object_or_the_wrong_kind_names_its_package(
    tmp_path: Path,
) -> None:
    site = write_distribution(
        tmp_path / "site",
        "odd-bench",
        "1.0",
        {GROUPS["benchmark"]: {"odd": "odd_bench:NOT_A_BENCHMARK"}},
        {"odd_bench/__init__.py": "NOT_A_BENCHMARK = 42\n"},
    )
    done = cascade(site, tmp_path, "run", "--config", str(config_file(tmp_path, "odd")))
    assert done.returncode == ExitCode.ERROR, done.stdout + done.stderr
    assert "odd_bench:NOT_A_BENCHMARK (package odd-bench 1.0)" in done.stdout + done.stderr
    assert "not a cascade.core.BenchmarkDefinition subclass" in done.stdout + done.stderr

    bad = write_distribution(
        tmp_path / "bad", "bad-exec", "3", {GROUPS["executor"]: {"nowhere": "bad_exec"}}
    )
    done = cascade(bad, tmp_path, "run", "--config", str(config_file(tmp_path, "demo")))
    assert done.returncode == ExitCode.ERROR, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert "the package bad-exec 3 registers executor 'nowhere' as 'bad_exec'" in output
    assert "'module:Object'" in output and "Traceback" not in output


def test_a_name_another_owns_is_refused_naming_both_owners(tmp_path: Path) -> None:
    site = write_distribution(
        tmp_path / "site",
        "clash-bench",
        "1.0",
        {GROUPS["benchmark"]: {"mmar": "clash_bench:Mine"}},
    )
    done = cascade(site, tmp_path, "run", "--config", str(config_file(tmp_path, "demo")))
    assert done.returncode == ExitCode.ERROR, done.stdout + done.stderr
    output = " ".join((done.stdout + done.stderr).split())
    assert (
        "benchmark 'mmar' is registered already, by cascade as cascade.core.benchmarks.mmar:Mmar;"
        " the package clash-bench 1.0 registers it again as clash_bench:Mine" in output
    )
    assert "Traceback" not in output

    two = tmp_path / "two"
    write_distribution(two, "other-bench", "2.0", {GROUPS["executor"]: {"x": "other:X"}})
    write_distribution(two, "third-bench", "0.3", {GROUPS["executor"]: {"x": "third:X"}})
    done = cascade(two, tmp_path, "list")
    assert done.returncode == ExitCode.ERROR, done.stdout + done.stderr
    output = " ".join((done.stdout + done.stderr).split())
    assert "executor 'x' is registered already, by the package" in output
    assert "other-bench 2.0" in output and "third-bench 0.3" in output
