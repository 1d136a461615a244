"""The table of scorers: its rows, their order, and what it refuses. A row added to the table
is a column of metrics.json and of every table without touching anything else (a package's row,
end to end through the CLI: tests/test_plugins.py)."""

from __future__ import annotations

import pytest

from cascade.core import Item, RegistryError, registry
from cascade.core.registry import Entry
from cascade.scoring import (
    INVALID,
    Extraction,
    Scorer,
    ScoringSpec,
    compute_metrics,
    invalid_sentence,
    readings,
    scorer_named,
    scorer_names,
    scorers,
)

LAST = Scorer(
    "last-letter",
    "the last capital letter of the answer that is an option's letter",
    invalid_when="last-letter",
    read=lambda text, choices: Extraction(
        "last-letter",
        next(
            (ord(c) - 65 for c in reversed(text) if 0 <= ord(c) - 65 < len(choices)),
            INVALID,
        ),
        "last-letter",
    ),
)
NOT_A_ROW = 42
NAMELESS = Scorer("other-name", "a row registered under a name not its own", "strict")
BORROWS = Scorer("borrows", "borrows the INVALID of a scorer that reads nothing", "official")


def add(monkeypatch: pytest.MonkeyPatch, name: str, attribute: str) -> None:
    """Register `attribute` of this module as the scorer `name`, for this test only."""
    registry.names("scorer")  # read the packages' entries first, so that ours is the last row
    entry = Entry(f"tests.test_scorer_table:{attribute}", "a test row")
    monkeypatch.setitem(registry.SCORERS, name, entry)


def test_cascades_rows_in_their_order() -> None:
    assert scorer_names() == ("official", "strict", "lenient")
    assert readings() == ("strict", "lenient")
    assert {row.name: row.invalid_when for row in scorers()} == {
        "official": "lenient",
        "strict": "strict",
        "lenient": "lenient",
    }
    # The legend of a sweep table, as it read before the table existed.
    assert invalid_sentence() == (
        "the strict extraction's rate for `strict`, the lenient one's for `official` and `lenient`"
    )


def test_a_new_row_is_a_column_of_the_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    add(monkeypatch, "last-letter", "LAST")
    item = Item(
        id="x",
        audio_path="x.wav",
        audio=None,
        question="Which?",
        choices=("alpha", "beta", "gamma"),
        answer="beta",
        modality="sound",
        category="Signal Layer",
        sub_category="Pitch",
        language=None,
        benchmark="mmar",
    )
    line = {"id": "x", "raw_answer": "ANSWER: A. On reflection, B", "finish_reason": "stop"}
    metrics = compute_metrics([item], {"x": line}, ScoringSpec(), benchmark="mmar")
    assert list(metrics["scorers"]) == ["official", "strict", "lenient", "last-letter"]
    assert metrics["scorers"]["last-letter"]["overall"]["correct"] == 1
    assert metrics["scorers"]["strict"]["overall"]["correct"] == 0
    assert metrics["invalid"] == {"strict": 0, "lenient": 0, "last-letter": 0}
    assert invalid_sentence().endswith(", the last-letter one's for `last-letter`")


@pytest.mark.parametrize(
    ("name", "attribute", "message"),
    [
        ("loose", "NOT_A_ROW", "which is not a cascade.scoring.Scorer (it is int)"),
        ("mislabelled", "NAMELESS", "whose row is named 'other-name'"),
        ("borrows", "BORROWS", "by the reading of 'official', which is no scorer with an"),
    ],
)
def test_a_row_that_cannot_be_a_row_is_refused_naming_it(
    monkeypatch: pytest.MonkeyPatch, name: str, attribute: str, message: str
) -> None:
    add(monkeypatch, name, attribute)
    with pytest.raises(RegistryError) as raised:
        scorers()
    assert f"scorer {name!r}" in str(raised.value) and message in str(raised.value)


def test_an_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(RegistryError) as raised:
        scorer_named("lenent")
    assert str(raised.value) == (
        "unknown scorer 'lenent'. Did you mean 'lenient'? Choose one of official, strict, lenient."
    )
