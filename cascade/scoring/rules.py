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
- `official` is the item's benchmark's own rule (`BenchmarkDefinition.official_match`; MMAR and
  MMAU: the token-set match, `cascade.core.token_set_match`) applied to `answer_prediction`, the
  text written in the official format. For an answer produced by a run, `answer_prediction` is
  the option the lenient ladder chose, verbatim; the raw answer text when the lenient ladder read
  no single option (nothing parsed, a hedge) or when the answer was truncated; empty when the
  item has no answer (an error). For a predictions file that cascade did not write (an
  `answer_prediction` / `model_output` / `model_prediction` read from the file), it is the file's
  prediction verbatim, so `official` is item for item what the official script says; the
  extractions are read from that same text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cascade.core import OfficialRule
from cascade.scoring.extraction import INVALID, Extraction, extract_lenient, extract_strict

SCORERS = ("official", "strict", "lenient")
EXTRACTORS = ("strict", "lenient")
INVALID_BY = {"official": "lenient", "strict": "strict", "lenient": "lenient"}
"""Per scorer, the extraction whose INVALID marks an answer as invalid under that scorer."""


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
    official: OfficialRule,
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
        official: the official rule of the item's benchmark.

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
            "official": official(answer, prediction, choices),
            "strict": _chose(choices, answer, strict),
            "lenient": _chose(choices, answer, lenient),
        },
    )


def _chose(choices: Sequence[str], answer: str, extraction: Extraction) -> bool:
    """The chosen option's text is the answer (texts, not positions: options can repeat)."""
    return extraction.index is not None and choices[extraction.index] == answer
