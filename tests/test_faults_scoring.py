"""Scoring faults found by trying bad answers (issue 16, items 2 and 3), through the CLI.

- A hedge that keeps a second option open after committing to one ("I think (A) or maybe B",
  "It is (A). Or maybe B.") was read as an answer by lenient: now INVALID under strict and
  lenient, in a run and when the run is scored again; an option named only to be rejected is
  not a hedge. The answer forms, case by case: data/extraction_cases.yaml.
- Scoring time grew with the square of a looping answer: `cascade score` now does work linear in
  its length (counted, see test_extraction_linear.py), with the verdicts of before.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

import tests.reference_extraction as before
from cascade.cli import app
from tests.conftest import ITEMS, MakeConfig, correct_letter, write_benchmark
from tests.test_extraction_linear import NEW_WORK, reading_work

runner = CliRunner()

HEDGED = {
    "tone-440": "I think (B) or maybe C",
    "tone-880": "It is (C). Or maybe A.",
    "music-mood": "The answer is Sad, but it could also be Happy.",
    "speech-yes": "答案是B，也可能是A",
}
"""Each names the right option first and keeps a wrong one open."""
REJECTED = {
    "mix-6": "It is (F), not E.",
    "speech-count": "The answer is Three rather than Four.",
}
"""Each names the right option and rejects a wrong one."""


def test_a_hedge_is_invalid_in_a_run_and_when_it_is_scored_again(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    assert set(HEDGED) | set(REJECTED) == {i[0] for i in ITEMS}
    assert all(correct_letter(i) in a for i, a in {**HEDGED, **REJECTED}.items() if "(" in a)
    config = make_config(reasoner={"name": "scripted", "config": {"answers": HEDGED | REJECTED}})
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))

    ran = runner.invoke(app, ["run", "--config", str(path)])

    assert ran.exit_code == 0, ran.output  # INVALID answers are answers, not failed items
    (run_dir,) = (tmp_path / "runs").iterdir()
    lines = {r["id"]: r for r in map(json.loads, (run_dir / "results.jsonl").open())}
    for item in HEDGED:
        assert lines[item]["extractions"]["lenient"]["index"] is None, item
        assert lines[item]["extractions"]["strict"]["index"] is None, item
        assert not lines[item]["correct"]["lenient"], item
        assert lines[item]["answer_prediction"] == HEDGED[item]  # official judges the raw text
    for item in REJECTED:
        assert lines[item]["correct"]["lenient"], item
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["invalid"]["lenient"] == len(HEDGED)

    scored = runner.invoke(app, ["score", str(run_dir), "--json"])
    assert scored.exit_code == 0, scored.output
    again = json.loads(scored.stdout)
    assert again["invalid"] == metrics["invalid"]
    assert again["scorers"]["lenient"]["overall"]["correct"] == len(REJECTED)


LOOP = "I think the answer is not clear. "
"""A model looping until its token budget, with no answer line: every answer cue's phrase runs to
the end of the one line and reads nothing."""


def _predictions(folder: Path, repeats: int) -> Path:
    """The test benchmark in MMAR's format, every item predicted by LOOP * repeats."""
    meta = write_benchmark(folder / f"bench-{repeats}")
    rows = [json.loads(line) for line in meta.read_text().splitlines()]
    for row in rows:
        row["answer_prediction"] = LOOP * repeats
    path = folder / f"predictions-{repeats}.json"
    path.write_text(json.dumps(rows))
    return path


def test_scoring_a_looping_answer_is_linear_in_its_length(tmp_path: Path) -> None:
    outputs: dict[int, Any] = {}

    def score(repeats: int) -> None:
        result = runner.invoke(app, ["score", str(_predictions(tmp_path, repeats)), "--json"])
        assert result.exit_code == 0, result.output
        outputs[repeats] = json.loads(result.stdout)

    small = reading_work(*NEW_WORK, lambda: score(400))
    large = reading_work(*NEW_WORK, lambda: score(1600))

    assert large <= 4.4 * small, (small, large)  # the code before: about 16x
    choices = ITEMS[0][3]
    expected = before.extract_lenient(LOOP * 1600, choices).valid
    assert outputs[1600]["invalid"]["lenient"] == (0 if expected else len(ITEMS))


BOX = "So the answer is \\boxed{{{}B"


def test_a_long_run_of_spaces_in_a_box_is_scored_at_once(tmp_path: Path) -> None:
    # `\boxed{` and spaces: the box expression backtracked over every split of the run (hours
    # for this one before); linear, it takes milliseconds.
    meta = write_benchmark(tmp_path / "bench")
    rows = [json.loads(line) for line in meta.read_text().splitlines()]
    for row in rows:
        row["answer_prediction"] = BOX.format(" " * 50_000)
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps(rows))

    started = time.process_time()
    result = runner.invoke(app, ["score", str(path), "--json"])

    assert result.exit_code == 0, result.output
    assert time.process_time() - started < 20
    # the verdict of before, read on a short run of spaces (the long one would not finish)
    expected = before.extract_lenient(BOX.format(" " * 50), ITEMS[0][3]).valid
    assert json.loads(result.stdout)["invalid"]["lenient"] == (0 if expected else len(ITEMS))
