"""The rubric judge, played by scripted reasoners: parsing, trimming, caching, the written files."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cascade import commands
from cascade.analysis import judge
from cascade.cli import app
from cascade.core import ChatRequest, ReasonerResponse
from cascade.testing import ScriptedReasoner
from tests.conftest import ITEMS, MakeConfig

POINTS = [judge.RubricPoint(f"p{n}", f"Award 1 point if {n}.", "", (0, 1)) for n in (1, 2, 3)]


@pytest.mark.parametrize(
    ("text", "scores", "problem"),
    [
        ("POINT 1: 1\nPOINT 2: 0\nPOINT 3: 1", (1, 0, 1), None),
        ("Fine.\n**POINT 1:** 1\n- POINT 2 = 1\nPoint 3: 0", (1, 1, 0), None),
        ("POINT 1: 0\nPOINT 2: 0\nPOINT 3: 0\nOn reflection:\nPOINT 1: 1", (1, 0, 0), None),
        ("POINT 1: 1.0\nPOINT 2: 0\nPOINT 3: 1", (1, 0, 1), None),
        ("POINT 1: 1\nPOINT 3: 1", None, "no score for point(s) [2]"),
        ("POINT 1: 1\nPOINT 2: 1\nPOINT 3: 1\nPOINT 4: 1", None, "point(s) [4] are not in"),
        ("POINT 1: 2\nPOINT 2: 1\nPOINT 3: 1", None, "point 1 scored 2, not one of (0, 1)"),
        ("POINT 1: 0.5\nPOINT 2: 1\nPOINT 3: 1", None, "point 1 scored 0.5"),
        ("I would give it full marks.", None, "no `POINT n: score` lines"),
    ],
    ids=[
        "plain",
        "markdown",
        "last-wins",
        "decimal-int",
        "missing",
        "extra",
        "range",
        "half",
        "none",
    ],
)
def test_judge_replies_are_read_or_refused(
    text: str, scores: tuple[int, ...] | None, problem: str | None
) -> None:
    parsed = judge.parse_scores(text, POINTS)
    assert parsed.scores == scores
    if problem is None:
        assert parsed.problem is None
    else:
        assert parsed.problem is not None and problem in parsed.problem


def test_middle_mean_drops_the_lowest_and_the_highest() -> None:
    assert judge.middle_mean([3, 1, 5, 2, 4]) == 3
    assert judge.middle_mean([0, 0, 3, 3, 3]) == 2
    with pytest.raises(ValueError, match="at least three"):
        judge.middle_mean([1, 2])


class PerSampleJudge(ScriptedReasoner):
    """Replies per item and sample: `answers[item]` holds the five replies joined by '|'."""

    def generate(self, requests: Sequence[ChatRequest]) -> list[ReasonerResponse]:
        self.calls.append([r.item_id for r in requests])
        return [
            ReasonerResponse(text=self.config.answers[r.item_id].split("|")[r.sample_index])
            for r in requests
        ]


def reply(*scores: int) -> str:
    return "\n".join(f"POINT {n}: {s}" for n, s in enumerate(scores, start=1))


def add_rubrics(meta: Path) -> None:
    lines = [json.loads(line) for line in meta.read_text().splitlines()]
    for line in lines:
        if line["id"] == "mix-6":
            continue  # an item without a rubric is not judged
        line["thinking"] = f"Reference reasoning for {line['id']}."
        line["rubric"] = [
            {
                "name": f"p{n}",
                "scoring_point": f"Award 1 point if {n}.",
                "note": "",
                "choices": [0, 1],
            }
            for n in (1, 2, 3)
        ]
    meta.write_text("".join(json.dumps(line) + "\n" for line in lines))


@pytest.fixture
def finished_run(make_config: MakeConfig, bench: Path) -> Path:
    add_rubrics(bench)
    config = make_config(
        reasoner={
            "name": "scripted",
            "config": {
                "answers": {i[0]: "ANSWER: B" for i in ITEMS},
                "reasoning": "The tone sounds high.",
                "errors": {"speech-count": "HTTP 500"},
            },
        }
    )
    return commands.run(config).run_dir


def test_judge_trims_refuses_unreadable_replies_and_caches_every_sample(
    finished_run: Path, tmp_path: Path
) -> None:
    replies = {
        "tone-440": [
            reply(0, 0, 1),
            reply(1, 1, 1),
            reply(1, 0, 1),
            reply(1, 1, 1),
            reply(0, 0, 0),
        ],
        "tone-880": [reply(1, 1, 1)] * 5,
        "speech-yes": [reply(1, 1, 1)] * 4 + ["Full marks."],
        "music-mood": [reply(0, 0, 0)] * 5,
    }
    scripted = {item: "|".join(texts) for item, texts in replies.items()}
    first = commands.judge(
        finished_run, "per-sample", reasoner=PerSampleJudge(config={"answers": scripted})
    )

    by_id = {j.id: j for j in first.judged}
    # totals 1, 3, 2, 3, 0 -> middle three 1, 2, 3 -> 2 of 3 points
    assert by_id["tone-440"].status == "scored"
    assert by_id["tone-440"].score == pytest.approx(2 / 3)
    assert by_id["tone-880"].score == 1.0 and by_id["music-mood"].score == 0.0
    assert by_id["speech-yes"].status == "unparsed" and by_id["speech-yes"].score is None
    assert by_id["speech-yes"].samples[4]["problem"] == "no `POINT n: score` lines"
    assert by_id["speech-count"].status == "no-answer" and by_id["speech-count"].score == 0.0
    assert by_id["mix-6"].status == "no-rubric"
    assert first.counts.computed == 20  # four items with an answer and a rubric, five samples

    overall = first.table.set_index("group").loc["all"]
    assert overall["n"] == 4  # tone-440, tone-880, music-mood, speech-count
    assert overall["rubric"] == pytest.approx((2 / 3 + 1 + 0 + 0) / 4)
    assert overall["accuracy"] == pytest.approx(2 / 4)  # B is right for tone-440, music-mood
    assert set(first.table["group"]) >= {"modality=sound", "category=Signal Layer"}

    written = json.loads(first.files["json"].read_text())
    assert written["samples"] == 5 and len(written["items"]) == 6
    keys = [s["key"] for s in next(i for i in written["items"] if i["id"] == "tone-440")["samples"]]
    assert len(set(keys)) == 5  # the sample index enters the cache key
    assert "## Not scored (unparsed)" in first.files["md"].read_text()
    page = (finished_run / "report.html").read_text()
    assert (
        "(not MMAR-Rubrics), judge per-sample" in page and "83.33 [" in page
    )  # sound: (2/3 + 1) / 2

    again = commands.judge(
        finished_run, "per-sample", reasoner=PerSampleJudge(config={"answers": scripted})
    )
    assert (again.counts.computed, again.counts.reused) == (0, 20)


def test_judge_command_with_a_registered_backend(finished_run: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "judge",
            str(finished_run),
            "--protocol",
            "ungated",
            "--judge",
            "scripted",
            "--set",
            'config.default="POINT 1: 1\\nPOINT 2: 1\\nPOINT 3: 0"',
        ],
    )
    assert result.exit_code == 0, result.output
    written = json.loads((finished_run / "judge-scripted.json").read_text())
    scores = {i["id"]: i["score"] for i in written["items"]}
    assert scores["tone-440"] == pytest.approx(2 / 3)
    request = json.dumps(written["items"][0])
    assert "POINT 1: 1" in request


def test_judge_prompt_shows_rubric_reference_and_response(finished_run: Path) -> None:
    _, items, results = judge.load_run(finished_run)
    item = next(i for i in items if i.id == "tone-440")
    from cascade.core import prompts
    from cascade.scoring import ItemResult

    request = judge.judge_request(
        item, ItemResult.from_json(results[item.id]), prompts.load("judge_rubric"), 3
    )
    text = request.messages[-1].content
    assert request.sample_index == 3
    assert "Correct answer: 440 Hz" in text
    assert "Reference reasoning for tone-440." in text
    assert "1. p1: Award 1 point if 1. Score: 0 or 1." in text
    assert "Reasoning:\nThe tone sounds high.\n\nFinal answer:\nANSWER: B" in text
    assert "exactly 3 lines" in text
