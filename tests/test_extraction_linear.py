"""Extraction in time linear in the answer's length, with the verdicts it had before (issue 16).

The verdicts: generated answers are read by the current ladders and by a frozen copy of the code
before the change (tests/reference_extraction.py). With the one rule added since (an answer that
keeps a second option open is a hedge: `mentions.opens`) switched off, every verdict is the same;
with it on, a verdict differs only by becoming INVALID.

The time: counted, not timed. The work of reading an answer is the characters handed to the
functions that read phrases, find option mentions and fold text; it must grow 4x when the answer
grows 4x, for the answer shapes that were quadratic before (the same count over the frozen copy
grows 16x). Regular expressions that backtracked over long runs are checked by time, with a bound
that only a super-linear match can reach.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tests.reference_extraction as before
from cascade.scoring import extract_lenient, extract_strict, extraction, mentions

OPTION_POOLS = [
    ["alpha", "beta", "gamma", "delta"],
    ["Dog", "Dog barking", "Cat", "Silence"],
    ["rock", "roll", "rock and roll", "jazz"],
    ["D in 8", "D in A", "D and 8", "D and A"],
    ["Piano", "Guitar", "Piano, Guitar", "Drums"],
    ["平静", "激动", "悲伤", "困惑"],
    ["a b", "b c", "c"],
    ["G", "A#", "D", "E"],
    ["Yes", "No"],
    ["one", "three", "three", "zero", "five", "six"],
    ["Now or never", "Now", "Never"],
]
FRAGMENTS = [
    "A",
    "B",
    "C",
    "D",
    "E",
    "a",
    "b",
    "(A)",
    "(B)",
    "[C]",
    "b)",
    "C.",
    "D:",
    "**A**",
    "**B**",
    "\\boxed{A}",
    "\\boxed{ B }",
    "\\boxed{\\text{C}}",
    "$",
    "ANSWER:",
    "Final answer:",
    "**ANSWER:**",
    "answer is",
    "The answer is",
    "I choose",
    "I'd go with",
    "option",
    "choice:",
    "答案是",
    "选",
    "选项",
    "不是",
    "也可能是",
    " or ",
    " or maybe ",
    "/",
    ", ",
    "或",
    "或者",
    " and ",
    "maybe",
    "perhaps",
    "either",
    "possibly",
    "could be",
    "might be",
    "alternatively",
    "but",
    "because",
    "not",
    "rather than",
    "is wrong",
    "the",
    "unclear",
    "it",
    "is",
    ". ",
    "; ",
    "。",
    "，",
    "\n",
    "\n\n",
    "  ",
    "\t",
    " ",
    "   ",
    "...",
    "!",
    "?",
    ">",
    "#",
    "-",
    "*",
    "_",
    "`",
    "'",
    '"',
    "“",
    "ß",
    "İ",
    "ﬁ",
    "Ｂ",
    "e\u0301",
]


@st.composite
def answers(draw: st.DrawFn) -> tuple[str, list[str]]:
    choices = draw(st.sampled_from(OPTION_POOLS))
    pieces = st.one_of(st.sampled_from(FRAGMENTS), st.sampled_from(choices))
    body = draw(st.lists(pieces, max_size=24))
    joiner = draw(st.sampled_from(["", " ", " ", "\n"]))
    text = joiner.join(body) * draw(st.sampled_from([1, 1, 2, 7, 30]))
    return text, choices


@contextmanager
def without_kept_open() -> Iterator[None]:
    with mock.patch.object(mentions, "opens", lambda gap: False):
        yield


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_every_verdict_is_the_old_one_but_for_the_kept_open_rule(
    answer: tuple[str, list[str]],
) -> None:
    text, choices = answer
    old = (before.extract_strict(text, choices), before.extract_lenient(text, choices))
    with without_kept_open():
        same = (extract_strict(text, choices), extract_lenient(text, choices))
    assert [(e.index, e.rule) for e in same] == [(e.index, e.rule) for e in old]
    new_pair = (extract_strict(text, choices), extract_lenient(text, choices))
    for new, was in zip(new_pair, old, strict=True):
        assert (new.index, new.rule) == (was.index, was.rule) or not new.valid


def reading_work(module: Any, names: tuple[str, ...], read: Callable[[], object]) -> int:
    """Characters handed to the named functions of `module` while `read` runs."""
    count = 0

    def counting(function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(text: str, *args: Any, **kwargs: Any) -> Any:
            nonlocal count
            count += len(text)
            return function(text, *args, **kwargs)

        return wrapper

    with mock.patch.multiple(module, **{n: counting(getattr(module, n)) for n in names}):
        read()
    return count


NEW_WORK = (extraction, ("_read_phrase", "_clean_phrase", "fold", "key", "hedges", "option_spans"))
OLD_WORK = (before, ("_read_phrase", "_clean_phrase", "_fold", "_key", "_refs", "_option_spans"))
CHOICES = ["a dog barking", "a cat meowing", "rain", "wind"]
SHAPES: dict[str, Callable[[int], str]] = {
    # a model looping on one line, with answer cues whose phrases read nothing
    "cue-on-one-line": lambda n: "I think the answer is not clear. " * n,
    "cue-without-punctuation": lambda n: "the answer is unclear " * n,
    "chinese-choose": lambda n: "我选不出来，" * n,
    "cue-then-letter-chain": lambda n: "The answer is A or maybe A or A, " * n,
    # an option's text, over and over (the case)
    "option-text-repeated": lambda n: "a dog barking " * n,
    "letters-in-prose": lambda n: "(A) is too quiet and option B is too loud; " * n,
    "many-lines": lambda n: "The answer is not clear.\n" * n,
}


@pytest.mark.parametrize("shape", SHAPES, ids=list(SHAPES))
def test_reading_work_grows_linearly_with_the_answer(shape: str) -> None:
    make = SHAPES[shape]
    small = reading_work(*NEW_WORK, lambda: extract_lenient(make(300), CHOICES))
    large = reading_work(*NEW_WORK, lambda: extract_lenient(make(1200), CHOICES))
    assert large <= 4.4 * small, (small, large)


def test_the_work_count_sees_the_old_quadratic_reading() -> None:
    make = SHAPES["cue-on-one-line"]
    small = reading_work(*OLD_WORK, lambda: before.extract_lenient(make(50), CHOICES))
    large = reading_work(*OLD_WORK, lambda: before.extract_lenient(make(200), CHOICES))
    assert large > 12 * small, (small, large)


BACKTRACKING = {
    # \boxed{ and a run of spaces: the lazy inner text retried every split of the run (cubic)
    "boxed-spaces": "\\boxed{" + " " * 100_000 + "x",
    "boxed-text-spaces": "\\boxed{\\text{" + " " * 100_000 + "x",
    # blank lines: every line start re-scanned the rest of the run for an answer line
    "blank-lines": "x\n" + "\n" * 100_000 + "y",
    "quoted-blank-lines": "x\n" + "> \n" * 50_000 + "y",
    # spaces between two bracketed letters, split between two greedy classes
    "spaces-between-letters": "(A)" + " " * 100_000 + ".(B)",
}


@pytest.mark.parametrize("text", BACKTRACKING.values(), ids=list(BACKTRACKING))
def test_long_runs_do_not_make_a_regular_expression_backtrack(text: str) -> None:
    # Linear: well under a second. The old expressions took minutes to hours on these.
    started = time.process_time()
    extract_lenient(text, CHOICES)
    assert time.process_time() - started < 5.0


GROWING = {
    "long-chain-of-one-option": ("the answer is " + "A or " * 60 + "maybe . ") * 6,
    "long-chain-then-another": ("the answer is " + "A or " * 60 + "B. ") * 3
    + "the answer is not clear. " * 5,
    "long-filler-runs": ("answer is " + "maybe " * 80 + "A. ") * 4 + "the answer is " + "   " * 100,
    "brackets-before-an-option": ("answer is alpha" + " (" * 100 + "beta) no ") * 4,
}


@pytest.mark.parametrize("text", GROWING.values(), ids=list(GROWING))
def test_a_phrase_read_from_its_start_grows_the_piece_until_decided(text: str) -> None:
    # Phrases whose decision lies past the first piece read: the piece doubles (mentions.NeedsMore)
    # and the verdict is the one the whole phrase gives (the code before read it whole).
    raised = 0
    real = mentions.NeedsMore

    class Counted(real):  # type: ignore[misc,valid-type]
        def __init__(self, *args: object) -> None:
            nonlocal raised
            raised += 1
            super().__init__(*args)

    choices = ["alpha", "beta", "gamma", "delta"]
    with mock.patch.object(mentions, "NeedsMore", Counted), without_kept_open():
        new = (extract_strict(text, choices), extract_lenient(text, choices))
    old = (before.extract_strict(text, choices), before.extract_lenient(text, choices))
    assert raised > 0
    assert [(e.index, e.rule) for e in new] == [(e.index, e.rule) for e in old]
