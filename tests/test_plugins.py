"""Packages outside cascade add to its tables by entry points, as a user's package would: a
package installed on the spot (tests/plugin_dist.py) adds a benchmark of its own format, with
its own data, predictions keys and official rule, a scorer and an executor; `cascade run` runs
them end to end in a process of its own, the scorer's column is in every table, `cascade
score` reads their predictions and `cascade ablate` pairs variations by the scorer. A broken
plug-in, or one that takes a name another owns, is one paragraph naming its package."""

from __future__ import annotations

import json
import os
import re
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

SAID = '''"""A scorer of its own, as a user's package ships one."""

import re
from collections.abc import Sequence

from cascade.scoring import INVALID, Answer, Extraction, Scorer


def said(text: str, choices: Sequence[str]) -> Extraction:
    """The one option whose text the answer says; INVALID for none or several."""
    named = [i for i, c in enumerate(choices) if re.search(rf"\\b{re.escape(c)}\\b", text, re.I)]
    return Extraction("said", named[0] if len(named) == 1 else INVALID, "option-text")


def by_official_rule(answer: Answer) -> bool:
    """The option it read, judged by the item's benchmark's own rule."""
    chosen = answer.extraction
    if chosen is None or chosen.index is None:
        return False
    return answer.official(answer.answer, answer.choices[chosen.index], answer.choices)


SAID = Scorer(
    "said",
    "the one option whose text the answer says, judged by the benchmark's own rule",
    invalid_when="said",
    read=said,
    judge=by_official_rule,
)
'''

QUESTIONS = [
    # qid, options, solution, scripted answer
    ("q-low", ["440 Hz", "880 Hz"], "440 Hz", "It is low.\nANSWER: A"),
    ("q-high", ["440 Hz", "880 Hz"], "880 Hz", "ANSWER: A"),
    ("q-count", ["one", "two", "three"], "three", "I heard three.\nANSWER: C"),
]


def quiz_package(site: Path) -> Path:
    """The distribution `quiz-bench` 0.1: the benchmark `quiz` with its items and clips, the
    scorer `said` and the executor `one-at-a-time` (tests/executor_package.py)."""
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
            GROUPS["scorer"]: {"said": "quiz_bench.said:SAID"},
        },
        {
            "quiz_bench/__init__.py": QUIZ,
            "quiz_bench/said.py": SAID,
            "quiz_bench/quiz.json": json.dumps(items),
        },
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


def test_a_package_adds_a_benchmark_a_scorer_and_an_executor_that_run_and_score_end_to_end(
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
    # The package's scorer is a column after cascade's: it reads "three" alone (q-count); the
    # letters of q-low and q-high name no option text, so it counts them INVALID.
    assert list(metrics["scorers"]) == ["official", "strict", "lenient", "said"]
    assert metrics["scorers"]["said"]["overall"]["correct"] == 1
    assert set(metrics["scorers"]["said"]["by"]["sub-category"]) == {"Counting", "Pitch"}
    assert metrics["invalid"] == {"strict": 0, "lenient": 0, "said": 2}
    lines = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    said = {line["id"]: line["extractions"]["said"]["index"] for line in lines}
    assert said == {"q-low": None, "q-high": None, "q-count": 2}
    assert [line["correct"]["said"] for line in lines] == [False, False, True]
    report = (run_dir / "report.md").read_text()
    assert "| said " in report and "said %" in report

    rescored = cascade(site, tmp_path, "score", str(run_dir), "--json")
    assert rescored.returncode == ExitCode.OK, rescored.stdout + rescored.stderr
    assert json.loads(rescored.stdout)["scorers"] == metrics["scorers"]
    shown = cascade(site, tmp_path, "score", str(run_dir))
    assert shown.returncode == ExitCode.OK, shown.stdout + shown.stderr
    assert "said" in shown.stdout and "33.33" in shown.stdout
    listing = cascade(site, tmp_path, "runs", str(run_dir), "--html", str(tmp_path / "runs.html"))
    assert listing.returncode == ExitCode.OK, listing.stdout + listing.stderr
    assert re.search(r"lenient %\s+said %", listing.stdout)  # a column after cascade's
    assert 'data-key="said">said %</th>' in (tmp_path / "runs.html").read_text()

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
    # The scorer's reader judges the option it read by the benchmark's rule: "440 Hz" is right.
    by_said = file_metrics["scorers"]["said"]["overall"]
    assert (by_said["n"], by_said["correct"]) == (2, 2)

    # A sweep pairs its variations by the package's scorer, named in the sweep file.
    sweep = sweep_file(tmp_path, "said")
    swept = cascade(site, tmp_path, "ablate", str(sweep), "--set", "run.executor=one-at-a-time")
    assert swept.returncode == ExitCode.OK, swept.stdout + swept.stderr
    table = (tmp_path / "sweep" / "table.md").read_text()
    assert "paired figures for the said scorer" in table and "| said %" in table
    assert "the said one's for `said`" in table
    wrong = cascade(site, tmp_path, "ablate", str(sweep_file(tmp_path, "siad")))
    assert wrong.returncode == ExitCode.ERROR, wrong.stdout + wrong.stderr
    output = " ".join((wrong.stdout + wrong.stderr).split())
    assert "unknown scorer 'siad'. Did you mean 'said'?" in output
    assert "Choose one of official, strict, lenient, said" in output
    assert "Traceback" not in output

    listed = cascade(site, tmp_path, "list")
    assert listed.returncode == ExitCode.OK, listed.stdout + listed.stderr
    assert "from the package quiz-bench 0.1" in listed.stdout
    scorers = listed.stdout[listed.stdout.index("scorers") :]
    assert "said" in scorers and "official" in scorers


def sweep_file(tmp_path: Path, scorer: str) -> Path:
    """A sweep of the quiz run with one variation (q-count answered wrong), paired by `scorer`."""
    base = yaml.safe_load(config_file(tmp_path).read_text())
    sweep = {
        "name": "quiz-sweep",
        "base": base,
        "output_dir": str(tmp_path / "sweep"),
        "scorer": scorer,
        "variations": {"worse": ["reasoner.config.answers.q-count='ANSWER: A'"]},
    }
    path = tmp_path / f"sweep-{scorer}.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


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

    # A scorer entry must name a row of the table; the run stops before computing anything.
    site = write_distribution(
        tmp_path / "scorer",
        "odd-scorer",
        "2.0",
        {GROUPS["scorer"]: {"loose": "odd_scorer:LOOSE"}},
        {"odd_scorer/__init__.py": "LOOSE = 'any letter goes'\n"},
    )
    done = cascade(site, tmp_path, "run", "--config", str(config_file(tmp_path, "demo")))
    assert done.returncode == ExitCode.ERROR, done.stdout + done.stderr
    output = " ".join((done.stdout + done.stderr).split())
    assert "scorer 'loose' is registered as odd_scorer:LOOSE (package odd-scorer 2.0)" in output
    assert "not a cascade.scoring.Scorer" in output and "Traceback" not in output
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("results.jsonl"))

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
