"""The official scoring rule, item for item against the official scripts' verdicts."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from cascade.core import token_set_match
from cascade.core import token_set_match as official_match
from cascade.scoring import INVALID, Extraction, prediction_text, score

ROOT = Path(__file__).resolve().parents[1]
GOLDEN_PATH = ROOT / "tests" / "data" / "official_golden.jsonl"


def _load_maker() -> ModuleType:
    """scripts/make_official_golden.py, which builds the predictions the verdicts are about."""
    spec = importlib.util.spec_from_file_location(
        "make_official_golden", ROOT / "scripts" / "make_official_golden.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKER = _load_maker()
HEADER, *GOLDEN = [json.loads(line) for line in GOLDEN_PATH.read_text("utf-8").splitlines()]


def test_golden_file_is_about_the_shipped_metadata_and_every_style() -> None:
    assert HEADER["meta_sha256"] == {b: MAKER.sha256(p) for b, p in MAKER.META.items()}
    assert HEADER["styles"] == list(MAKER.STYLES)
    for benchmark in ("mmar", "mmau"):
        assert [g["style"] for g in GOLDEN if g["benchmark"] == benchmark] == list(MAKER.STYLES)


@pytest.mark.parametrize("golden", GOLDEN, ids=[f"{g['benchmark']}-{g['style']}" for g in GOLDEN])
def test_official_match_agrees_with_the_official_script_on_every_item(
    golden: dict[str, Any],
) -> None:
    items = MAKER.load_meta(golden["benchmark"])
    assert len(items) == golden["n"] == len(golden["matches"]) == 1000
    ours = "".join(
        "1"
        if official_match(it["answer"], MAKER.prediction(golden["style"], it), it["choices"])
        else "0"
        for it in items
    )
    disagree = [it["id"] for it, a, b in zip(items, ours, golden["matches"], strict=True) if a != b]
    assert disagree == []


def test_styles_exercise_both_verdicts() -> None:
    # A parity test on styles that are always right (or always wrong) could not catch much.
    mixed = [g["style"] for g in GOLDEN if 0 < g["correct"] < g["n"]]
    assert len(mixed) >= 10


CHOICES = ("Too much", "Too little", "Just right")


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("Too little", True),
        ("too LITTLE!", True),
        ("Too much", False),
        ("", False),
        ("...", False),
        ("Too little, not too much", False),  # "much" is a word of a wrong choice
        ("Little", False),  # "too" is missing
        ("The answer is too little", True),  # words no choice uses are free
        ("ANSWER: B", False),
    ],
)
def test_official_match_by_hand(prediction: str, expected: bool) -> None:
    assert official_match("Too little", prediction, CHOICES) is expected


def test_official_match_quirks_are_kept() -> None:
    # A wrong choice whose words all belong to the answer never counts against a prediction:
    assert official_match("Dog barking", "dog barking dog", ("Dog", "Dog barking"))
    # so predicting that wrong choice plus the answer's other words is right, and a wrong choice
    # with the same words as the answer is indistinguishable from it:
    assert official_match("Cat and dog", "dog and cat", ("Cat and dog", "Dog and cat", "Bird"))
    # An answer without words matches any non-empty prediction free of wrong-choice words.
    assert official_match("?", "no idea", ("?", "Yes"))
    assert not official_match("?", "", ("?", "Yes"))
    # Case is folded with str.lower, not casefold: "ß" stays "ß".
    assert not official_match("Strasse", "STRAßE", ("Strasse", "Weg"))
    # Words are \w+ runs: Chinese glued to the answer makes one unknown word.
    assert not official_match("Rain", "答案是Rain", ("Rain", "Snow"))
    assert official_match("Rain", "答案是 Rain", ("Rain", "Snow"))


def test_prediction_text() -> None:
    raw = "I think it is B.\nANSWER: B"
    assert prediction_text(raw, CHOICES, Extraction("strict", 1, "answer-line-letter")) == (
        "Too little"
    )
    assert prediction_text(raw, CHOICES, Extraction("strict", INVALID, "")) == raw


def test_a_run_answer_is_judged_by_official_as_the_option_lenient_chose() -> None:
    scored = score(
        "The answer is too little.",
        CHOICES,
        "Too little",
        truncated=False,
        verbatim=False,
        official=token_set_match,
    )
    assert scored.answer_prediction == "Too little"
    assert scored.correct == {"official": True, "strict": False, "lenient": True}


def test_a_predictions_file_answer_is_judged_by_official_verbatim() -> None:
    # A bare letter holds none of the answer's words: the official script says wrong, and so does
    # `official`, while the lenient ladder reads the letter from the same text.
    scored = score(
        "B", CHOICES, "Too little", truncated=False, verbatim=True, official=token_set_match
    )
    assert scored.answer_prediction == "B"
    assert scored.correct == {"official": False, "strict": False, "lenient": True}


def test_a_hedge_is_invalid_and_official_judges_its_raw_text() -> None:
    scored = score(
        "ANSWER: too little or too much",
        CHOICES,
        "Too little",
        truncated=False,
        verbatim=False,
        official=token_set_match,
    )
    assert scored.invalid == {"strict": True, "lenient": True}
    assert scored.answer_prediction == "ANSWER: too little or too much"
    assert scored.correct == {"official": False, "strict": False, "lenient": False}


@pytest.mark.parametrize("verbatim", [False, True])
def test_a_truncated_answer_is_invalid_and_official_judges_its_raw_text(verbatim: bool) -> None:
    cut = "Weighing the levels up.\nANSWER: B"
    scored = score(
        cut, CHOICES, "Too little", truncated=True, verbatim=verbatim, official=token_set_match
    )
    assert scored.invalid == {"strict": True, "lenient": True}
    assert scored.answer_prediction == cut
    assert scored.correct == {"official": False, "strict": False, "lenient": False}
    # The official rule still judges the raw text: a cut-off answer of only the option is right.
    only_option = score(
        "Too little",
        CHOICES,
        "Too little",
        truncated=True,
        verbatim=verbatim,
        official=token_set_match,
    )
    assert only_option.correct == {"official": True, "strict": False, "lenient": False}


def test_no_answer_is_wrong_under_every_scorer() -> None:
    scored = score(
        None, CHOICES, "Too little", truncated=False, verbatim=False, official=token_set_match
    )
    assert scored.answer_prediction == ""
    assert scored.correct == {"official": False, "strict": False, "lenient": False}
    assert scored.invalid == {"strict": True, "lenient": True}
