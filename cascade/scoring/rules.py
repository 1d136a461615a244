"""How one answer is scored: the official rule, the extractions, and the scoring policy.

The scoring policy, the one place it is defined (README.md and reasoners/PRESETS.md point here):

- `strict` and `lenient` are the options the strict and lenient extraction ladders read from the
  answer text (cascade.scoring.extraction). An answer that names no single option is INVALID (scored
  wrong); so is an answer that commits to more than one option (a hedge: "A or B", "alpha or
  beta", "gamma, delta", "A (alpha) or maybe B", "A或B"), whether by letters, by option texts or
  both, and so is an answer that commits to one option and keeps another open, with nothing but
  hedge words between ("I think (A) or maybe B", "It is (A). Or maybe B.", "A, but it could be
  B": cascade.scoring.mentions.hedges). Only the answer itself is judged: the last `ANSWER:` line
  decides, and options mentioned in the reasoning before it, or named to be rejected after the
  chosen option ("B because A is wrong", "alpha, not beta", "A rather than B"), are not hedges.
- A truncated answer (finish_reason "length": the model hit its token limit) is INVALID under
  `strict` and `lenient`, whatever it happens to end with, and is counted in `truncated`.
- `official` is the benchmarks' own rule (`official_match`) applied to `answer_prediction`, the
  text written in the official format. For an answer produced by a run, `answer_prediction` is
  the option the lenient ladder chose, verbatim; the raw answer text when the lenient ladder read
  no single option (nothing parsed, a hedge) or when the answer was truncated; empty when the
  item has no answer (an error). For a predictions file that cascade did not write (an
  `answer_prediction` / `model_output` / `model_prediction` read from the file), it is the file's
  prediction verbatim, so `official` is item for item what the official script says; the
  extractions are read from that same text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cascade.scoring.extraction import INVALID, Extraction, extract_lenient, extract_strict

SCORERS = ("official", "strict", "lenient")
EXTRACTORS = ("strict", "lenient")
INVALID_BY = {"official": "lenient", "strict": "strict", "lenient": "lenient"}
"""Per scorer, the extraction whose INVALID marks an answer as invalid under that scorer."""

_WORD = re.compile(r"\b\w+\b")


def official_words(text: str) -> frozenset[str]:
    """The word set the official MMAR and MMAU scripts compare: lower-cased `\\b\\w+\\b` tokens.

    Args:
        text: any text.

    Returns:
        The distinct words of the text (Unicode word characters; `str.lower`, not casefold).
    """
    return frozenset(_WORD.findall(text.lower()))


def official_match(answer: str, prediction: str, choices: Sequence[str]) -> bool:
    """Whether the official MMAR / MMAU scorer counts a prediction correct.

    The rule (MMAR `code/evaluation.py` and MMAU `evaluation.py`, function `string_match`): the
    prediction's word set must be non-empty, contain every word of the answer, and contain no word
    that occurs in a wrong choice but not in the answer. Reproduced exactly, oddities included: a
    wrong choice whose words are all words of the answer can never count against a prediction,
    any extra word that no choice uses is free, and an answer with no words matches any non-empty
    prediction that avoids the wrong choices' words.

    Args:
        answer: the item's correct option text.
        prediction: the text the model is scored on (`answer_prediction` / `model_output`).
        choices: all of the item's options, the answer among them.

    Returns:
        True when the official scripts would set `match` to 1.
    """
    predicted = official_words(prediction)
    if not predicted:
        return False
    expected = official_words(answer)
    wrong = set().union(*(official_words(c) for c in choices)) - expected
    return expected <= predicted and predicted.isdisjoint(wrong)


def prediction_text(raw: str, choices: Sequence[str], extraction: Extraction) -> str:
    """The prediction written in the official format (`answer_prediction`) for one run answer.

    Args:
        raw: the reasoner's final answer text.
        choices: the item's options.
        extraction: the lenient extraction (INVALID for a truncated answer).

    Returns:
        The chosen option's exact text, or `raw` unchanged when no option was extracted, so that
        the official scorer judges exactly what the model said.
    """
    if extraction.index is None:
        return raw
    return choices[extraction.index]


@dataclass(frozen=True)
class Scored:
    """Every scorer's verdict on one answer (see the module docstring for the policy).

    Attributes:
        extractions: per extraction method, what it read; None when there is no answer at all.
        answer_prediction: the text the official rule judged.
        correct: per scorer (SCORERS), whether the answer counts as correct.
    """

    extractions: Mapping[str, Extraction | None]
    answer_prediction: str
    correct: Mapping[str, bool]

    @property
    def invalid(self) -> dict[str, bool]:
        return {m: e is None or not e.valid for m, e in self.extractions.items()}


def score(
    text: str | None,
    choices: Sequence[str],
    answer: str,
    *,
    truncated: bool,
    verbatim: bool,
) -> Scored:
    """Score one answer by every scorer, following the scoring policy of this module.

    Args:
        text: the answer text (a run's final answer, or a predictions file's prediction); None
            when the item has no answer (it failed): wrong under every scorer.
        choices: the item's options.
        answer: the item's correct option text.
        truncated: the answer stopped at the length limit: INVALID under strict and lenient, and
            `official` judges the raw text.
        verbatim: `text` is a prediction read from a predictions file: `official` judges it as it
            is, never the option an extraction read from it.

    Returns:
        The extractions, the text `official` judged, and each scorer's verdict.
    """
    if text is None:
        return Scored(dict.fromkeys(EXTRACTORS), "", dict.fromkeys(SCORERS, False))
    if truncated:
        strict = Extraction("strict", INVALID, "")
        lenient = Extraction("lenient", INVALID, "")
    else:
        strict = extract_strict(text, choices)
        lenient = extract_lenient(text, choices)
    prediction = text if verbatim else prediction_text(text, choices, lenient)
    return Scored(
        extractions={"strict": strict, "lenient": lenient},
        answer_prediction=prediction,
        correct={
            "official": official_match(answer, prediction, choices),
            "strict": _chose(choices, answer, strict),
            "lenient": _chose(choices, answer, lenient),
        },
    )


def _chose(choices: Sequence[str], answer: str, extraction: Extraction) -> bool:
    """The chosen option's text is the answer (texts, not positions: options can repeat)."""
    return extraction.index is not None and choices[extraction.index] == answer
