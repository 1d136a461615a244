"""The strict and lenient extraction ladders, case by case (cases in data/extraction_cases.yaml)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cascade.scoring import (
    INVALID,
    LENIENT_RULES,
    STRICT_RULES,
    Extraction,
    extract_lenient,
    extract_strict,
    option_letters,
)

CASES: list[dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "data" / "extraction_cases.yaml").read_text(encoding="utf-8")
)


def _expected(method: str, spec: dict[str, Any] | None) -> Extraction:
    if spec is None:
        return Extraction(method, INVALID, "")
    return Extraction(method, spec["index"], spec["rule"])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_strict(case: dict[str, Any]) -> None:
    assert extract_strict(case["text"], case["choices"]) == _expected("strict", case["strict"])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_lenient(case: dict[str, Any]) -> None:
    assert extract_lenient(case["text"], case["choices"]) == _expected("lenient", case["lenient"])


def test_cases_are_many_distinct_and_cover_every_rung() -> None:
    assert len(CASES) >= 40
    assert len({c["id"] for c in CASES}) == len(CASES)
    rules = {c[m]["rule"] for c in CASES for m in ("strict", "lenient") if c[m] is not None}
    assert rules == set(LENIENT_RULES)
    assert {c["strict"]["rule"] for c in CASES if c["strict"]} == set(STRICT_RULES)


def test_a_valid_strict_reading_is_also_the_lenient_one() -> None:
    for case in CASES:
        if case["strict"] is not None:
            assert case["lenient"] == case["strict"], case["id"]


def test_option_letters() -> None:
    assert option_letters(2) == "AB"
    assert option_letters(6) == "ABCDEF"
    assert option_letters(26)[-1] == "Z"
    for n in (0, 1, 27):
        with pytest.raises(ValueError, match=str(n)):
            option_letters(n)


def test_extraction_properties() -> None:
    assert Extraction("strict", 3, "answer-line-letter").letter == "D"
    assert Extraction("strict", 3, "answer-line-letter").valid
    assert Extraction("lenient", INVALID, "").letter is None
    assert not Extraction("lenient", INVALID, "").valid


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6, 8])
def test_every_letter_of_every_item_size_reads_back(n: int) -> None:
    choices = [f"choice number {i}" for i in range(n)]
    for index, letter in enumerate(option_letters(n)):
        assert extract_strict(f"ANSWER: {letter}", choices).index == index
    assert not extract_strict(f"ANSWER: {'ABCDEFGHI'[n]}", choices).valid


def _shipped_items() -> list[dict[str, Any]]:
    data = Path(__file__).resolve().parents[1] / "cascade" / "core" / "benchmarks"
    mmar = (data / "mmar" / "MMAR-meta.jsonl").read_text("utf-8").splitlines()
    mmau: list[dict[str, Any]] = json.loads(
        (data / "mmau_test_mini" / "mmau-test-mini.json").read_text()
    )
    return [json.loads(line) for line in mmar] + mmau


def _names_another_option(text: str, index: int, n: int) -> bool:
    letters = option_letters(n)
    return len(text) == 1 and text.upper() in letters and letters.index(text.upper()) != index


def test_every_shipped_option_text_reads_back_as_itself() -> None:
    # The official-format predictions are option texts, so re-scoring them must find the option.
    # The only exceptions: empty options, and an option that is a bare letter naming another
    # option ("D" when the options are G, A#, D, E), which is genuinely ambiguous.
    unreadable = []
    for item in _shipped_items():
        choices = item["choices"]
        for index, text in enumerate(choices):
            got = extract_lenient(text, choices)
            if got.index is None or choices[got.index] != text:
                unreadable.append((item["id"], index, text))
    expected = [
        (item["id"], index, text)
        for item in _shipped_items()
        for index, text in enumerate(item["choices"])
        if not text.strip() or _names_another_option(text, index, len(item["choices"]))
    ]
    assert unreadable == expected
    assert 10 < len(expected) < 30
