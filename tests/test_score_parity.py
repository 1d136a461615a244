"""`cascade score FILE` reproduces the official scorers item for item, whatever the predictions say.

The reference below is written from the official scripts' rule (MMAR `code/evaluation.py`, MMAU
`evaluation.py`, function `string_match`), independently of cascade.scoring.rules: a prediction
counts when its lower-cased `\\b\\w+\\b` word set is non-empty, holds every word of the answer,
and holds no word that occurs only in wrong choices. Every check goes through the whole command
(reading the file, building items, scoring, metrics, JSON output).
"""

from __future__ import annotations

import importlib.util
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cascade import commands
from cascade.cli import app
from cascade.scoring import extract_lenient, extract_strict
from tests.conftest import ITEMS, MakeConfig, correct_letter

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def reference_string_match(answer: str, prediction: str, choices: Sequence[str]) -> bool:
    def words(text: str) -> set[str]:
        return set(re.findall(r"\b\w+\b", text.lower()))

    predicted, expected = words(prediction), words(answer)
    if not predicted:
        return False
    only_wrong: set[str] = set()
    for choice in choices:
        only_wrong |= words(choice) - expected
    return expected <= predicted and not predicted & only_wrong


def _load_maker() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_official_golden", ROOT / "scripts" / "make_official_golden.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _load_maker()
KEY = MAKER.PREDICTION_KEY  # {"mmar": "answer_prediction", "mmau": "model_output"}
META = {b: MAKER.load_meta(b) for b in ("mmar", "mmau")}
HEADER, *GOLDEN = [
    json.loads(line)
    for line in (ROOT / "tests" / "data" / "official_golden.jsonl").read_text("utf-8").splitlines()
]


def write_predictions(path: Path, records: Sequence[Mapping[str, Any]]) -> Path:
    """A predictions file in the benchmark's own layout: .jsonl lines or one .json list."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), "utf-8")
    else:
        path.write_text(json.dumps(list(records), ensure_ascii=False), "utf-8")
    return path


def unanswered(path: Path) -> bool:
    """Whether the file has an item without a prediction or with an empty one, or the run an item
    with an error (exit code 3)."""
    if path.is_dir():
        lines = (path / "results.jsonl").read_text("utf-8").splitlines()
        return any(json.loads(line)["error"] is not None for line in lines)
    text = path.read_text("utf-8")
    records = (
        json.loads(text) if path.suffix == ".json" else list(map(json.loads, text.splitlines()))
    )
    keys = ("answer_prediction", "model_output", "model_prediction")
    return any(not str(next((r[k] for k in keys if k in r), "")).strip() for r in records)


def score_file(path: Path) -> dict[str, Any]:
    result = runner.invoke(app, ["score", str(path), "--json"])
    assert result.exit_code == (3 if unanswered(path) else 0), result.output
    metrics: dict[str, Any] = json.loads(result.stdout)
    return metrics


def correct(metrics: Mapping[str, Any], scorer: str) -> int:
    count: int = metrics["scorers"][scorer]["overall"]["correct"]
    return count


def _letter(item: Mapping[str, Any], choice: str) -> str:
    return "ABCDEFGHIJ"[list(item["choices"]).index(choice)]


def _wrong(item: Mapping[str, Any]) -> str:
    return str(MAKER._wrong(item))


# Answer styles seen in real predictions files; `cascade score` used to re-extract an option from
# most of them before the official rule saw them.
MIXED: list[Callable[[Mapping[str, Any]], str]] = [
    lambda it: it["answer"],
    _wrong,
    lambda it: _letter(it, it["answer"]),
    lambda it: f"({_letter(it, it['answer'])})",
    lambda it: f"ANSWER: {_letter(it, it['answer'])}",
    lambda it: f"The answer is {it['answer']}, I am fairly sure.",
    lambda it: f"I think it is {it['answer']}.",
    lambda it: "",
    lambda it: f"{it['answer']} or {_wrong(it)}",
    lambda it: f"ANSWER: {_wrong(it)} or {it['answer']}",
    lambda it: f"The answer is {_letter(it, it['answer'])} or {_letter(it, _wrong(it))}.",
    lambda it: f"{_letter(it, _wrong(it))}) {_wrong(it)}",
    lambda it: ", ".join(it["choices"]),
    lambda it: f"答案是{it['answer']}",
]


@pytest.mark.parametrize(("bench_name", "suffix"), [("mmar", ".jsonl"), ("mmau", ".json")])
def test_a_1000_item_file_of_mixed_styles_scores_as_the_official_script(
    bench_name: str, suffix: str, tmp_path: Path
) -> None:
    benchmark = bench_name
    items = META[benchmark]
    predictions = [MIXED[n % len(MIXED)](it) for n, it in enumerate(items)]
    records = [{**it, KEY[benchmark]: p} for it, p in zip(items, predictions, strict=True)]
    metrics = score_file(write_predictions(tmp_path / f"predictions{suffix}", records))

    expected = sum(
        reference_string_match(it["answer"], p, it["choices"])
        for it, p in zip(items, predictions, strict=True)
    )
    assert metrics["scorers"]["official"]["overall"]["n"] == 1000
    assert correct(metrics, "official") == expected
    # strict and lenient are read from the same text, side by side.
    for scorer, extract in (("strict", extract_strict), ("lenient", extract_lenient)):
        read = [extract(p, it["choices"]).index for it, p in zip(items, predictions, strict=True)]
        assert correct(metrics, scorer) == sum(
            i is not None and it["choices"][i] == it["answer"]
            for it, i in zip(items, read, strict=True)
        )
        assert metrics["invalid"][scorer] == sum(i is None for i in read)


@pytest.mark.parametrize("golden", GOLDEN, ids=[f"{g['benchmark']}-{g['style']}" for g in GOLDEN])
def test_every_golden_style_gives_the_official_scripts_total(
    golden: Mapping[str, Any], tmp_path: Path
) -> None:
    # `correct` in the golden file is what the official script itself printed for this file.
    benchmark = golden["benchmark"]
    records = [
        {**it, KEY[benchmark]: MAKER.prediction(golden["style"], it)} for it in META[benchmark]
    ]
    metrics = score_file(write_predictions(tmp_path / "predictions.json", records))
    assert correct(metrics, "official") == golden["correct"]


def _item_strategy(benchmark: str) -> st.SearchStrategy[Mapping[str, Any]]:
    return st.sampled_from(META[benchmark])


def _prediction_strategy(item: Mapping[str, Any]) -> st.SearchStrategy[str]:
    choices = list(item["choices"])
    words = st.sampled_from(
        [
            *choices,
            *"ABCDEF",
            "ANSWER:",
            "the answer is",
            "or",
            "and",
            ",",
            "/",
            "(",
            ")",
            ".",
            "maybe",
            "because",
            "not",
            "答案是",
            "或",
            "\n",
            " ",
        ]
    )
    composed = st.lists(words, max_size=8).map(" ".join)
    return st.one_of(st.text(max_size=40), composed, st.sampled_from(choices))


@st.composite
def _predictions_file(draw: st.DrawFn, benchmark: str) -> list[dict[str, Any]]:
    items = draw(
        st.lists(_item_strategy(benchmark), min_size=1, max_size=6, unique_by=lambda i: i["id"])
    )
    return [{**it, KEY[benchmark]: draw(_prediction_strategy(it))} for it in items]


@pytest.mark.parametrize("bench_name", ["mmar", "mmau"])
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_arbitrary_predictions_score_as_the_official_rule(
    bench_name: str, data: st.DataObject, tmp_path: Path
) -> None:
    benchmark = bench_name
    records = data.draw(_predictions_file(benchmark))
    path = write_predictions(tmp_path / f"arbitrary-{benchmark}.json", records)
    metrics = score_file(path)
    expected = sum(
        reference_string_match(r["answer"], r[KEY[benchmark]], r["choices"]) for r in records
    )
    assert metrics["scorers"]["official"]["overall"]["n"] == len(records)
    assert correct(metrics, "official") == expected


def test_items_without_the_prediction_key_are_skipped_as_the_official_script_does(
    tmp_path: Path,
) -> None:
    items = META["mmar"][:10]
    records = [
        {**it, "answer_prediction": it["answer"]} if n % 2 else dict(it)
        for n, it in enumerate(items)
    ]
    metrics = score_file(write_predictions(tmp_path / "half.jsonl", records))
    assert metrics["scorers"]["official"]["overall"]["n"] == 5
    assert correct(metrics, "official") == 5
    assert metrics["missing_prediction"] == [it["id"] for it in items[0::2]]


# A run: its answers are written as `answer_prediction` (the option the lenient ladder chose, or
# the raw answer when it chose none, or when the answer was cut off), and scoring that file gives
# the run's own official total.
RUN_ANSWERS = {
    "tone-440": "Thinking...\nANSWER: B",  # 440 Hz: right
    "tone-880": "ANSWER: 880 Hz or 1000 Hz",  # a hedge: INVALID, the raw text is judged
    "speech-yes": "ANSWER: B",  # cut off by the length limit (below): INVALID
    "music-mood": "The answer is Sad.",  # lenient only
    "mix-6": "ANSWER: F",  # six: right
    "speech-count": "It might be Three or Four.",  # a hedge without an answer line
}


def test_a_runs_predictions_file_scores_as_the_run(make_config: MakeConfig) -> None:
    summary = commands.run(
        make_config(
            reasoner={
                "name": "scripted",
                "config": {"answers": RUN_ANSWERS, "truncated": ["speech-yes"]},
            }
        )
    )
    run_dir = summary.run_dir
    predictions = json.loads((run_dir / "predictions.json").read_text())
    written = {p["id"]: p["answer_prediction"] for p in predictions}
    assert written == {
        "tone-440": "440 Hz",
        "tone-880": "ANSWER: 880 Hz or 1000 Hz",
        "speech-yes": "ANSWER: B",
        "music-mood": "Sad",
        "mix-6": "six",
        "speech-count": "It might be Three or Four.",
    }
    metrics = summary.metrics
    assert correct(metrics, "strict") == 2
    assert correct(metrics, "lenient") == 3
    assert metrics["invalid"] == {"strict": 4, "lenient": 3}
    assert metrics["truncated"] == 1

    as_run = score_file(run_dir)
    assert as_run["scorers"] == metrics["scorers"]
    assert as_run["invalid"] == metrics["invalid"] and as_run["truncated"] == 1

    as_file = score_file(run_dir / "predictions.json")
    assert (
        correct(as_file, "official")
        == correct(metrics, "official")
        == sum(
            reference_string_match(p["answer"], p["answer_prediction"], p["choices"])
            for p in predictions
        )
    )


def test_a_truncated_answer_is_invalid_and_official_judges_its_raw_text(
    make_config: MakeConfig,
) -> None:
    # Every answer names the right letter, and every one stopped at the length limit.
    truncated = [i[0] for i in ITEMS]
    answers = {i: f"ANSWER: {correct_letter(i)}" for i in truncated}
    summary = commands.run(
        make_config(
            reasoner={"name": "scripted", "config": {"answers": answers, "truncated": truncated}}
        )
    )
    metrics = score_file(summary.run_dir)
    assert metrics["truncated"] == 6
    assert metrics["invalid"] == {"strict": 6, "lenient": 6}
    assert correct(metrics, "strict") == correct(metrics, "lenient") == 0
    # "ANSWER: B" holds none of the answer's words (e.g. "440", "hz"): the official rule says wrong.
    assert correct(metrics, "official") == 0
    results = [
        json.loads(line) for line in (summary.run_dir / "results.jsonl").read_text().splitlines()
    ]
    assert {r["answer_prediction"] for r in results} == {
        f"ANSWER: {correct_letter(i)}" for i in truncated
    }
    assert all(r["extractions"]["strict"]["index"] is None for r in results)


def _fails_with_one_paragraph(path: Path, *fragments: str) -> None:
    result = runner.invoke(app, ["score", str(path)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    message = result.stderr
    assert message.startswith("error: ") and message.strip().count("\n") == 0, message
    for fragment in (str(path), *fragments):
        assert fragment in message, message


def test_a_file_with_no_prediction_in_any_item_is_an_error(tmp_path: Path) -> None:
    mmar = write_predictions(tmp_path / "mmar.jsonl", META["mmar"][:5])
    _fails_with_one_paragraph(mmar, "no item has a prediction", "`answer_prediction`")
    mmau = write_predictions(tmp_path / "mmau.json", META["mmau"][:5])
    _fails_with_one_paragraph(mmau, "no item has a prediction", "`model_output`")


@pytest.mark.parametrize(("name", "content"), [("empty.jsonl", ""), ("empty.json", "[]")])
def test_a_file_with_no_items_is_an_error(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    _fails_with_one_paragraph(path, "holds no items")


def test_latin1_bytes_are_an_error_naming_the_line(tmp_path: Path) -> None:
    items = META["mmar"][:3]
    lines = [json.dumps({**it, "answer_prediction": "PREDICTION"}).encode() for it in items]
    lines[2] = lines[2].replace(b"PREDICTION", "café".encode("latin-1"))
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    _fails_with_one_paragraph(path, "line 3", "not UTF-8")


def test_a_binary_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "predictions.json"
    path.write_bytes(bytes(range(256)) * 4)
    _fails_with_one_paragraph(path, "not UTF-8")


@pytest.mark.parametrize("suffix", [".json", ".jsonl"])
def test_a_cut_off_file_is_an_error_naming_where(tmp_path: Path, suffix: str) -> None:
    records = [{**it, "answer_prediction": it["answer"]} for it in META["mmar"][:3]]
    whole = write_predictions(tmp_path / f"whole{suffix}", records).read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    _fails_with_one_paragraph(path, "not valid JSON", "line 1" if suffix == ".json" else "line 2")


def test_a_prediction_that_is_not_text_is_an_error_naming_the_item(tmp_path: Path) -> None:
    records = [{**it, "answer_prediction": it["answer"]} for it in META["mmar"][:3]]
    records[1]["answer_prediction"] = None
    path = write_predictions(tmp_path / "null.jsonl", records)
    _fails_with_one_paragraph(path, f"item 2 ({records[1]['id']})", "not a string")
