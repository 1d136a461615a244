"""How one answer is scored by every scorer of the table (cascade.scoring.scorers): the policy.

The scoring policy, the one place it is defined (README.md and reasoners/PRESETS.md point here):

- The scorers and how each reads an answer are the rows of one table (cascade.scoring.scorers);
  what follows is the policy every row is held to, and that of the three shipped.
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
  `strict` and `lenient` (under every scorer with an extraction ladder), whatever it happens to
  end with, and is counted in `truncated`. An item with no answer (an error) is wrong under
  every scorer.
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
from cascade.scoring.extraction import INVALID, Extraction
from cascade.scoring.scorers import PREDICTION_READING, Answer, readings, scorer_names, scorers


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
        extractions: per scorer with an extraction ladder, what it read; None when there is no
            answer at all.
        answer_prediction: the text the official rule judged.
        correct: per scorer of the table, whether the answer counts as correct.
    """

    extractions: Mapping[str, Extraction | None]
    answer_prediction: str
    correct: Mapping[str, bool]

    @property
    def invalid(self) -> dict[str, bool]:
        """Per reading (a scorer with a ladder): whether it read no single option."""
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
        truncated: the answer stopped at the length limit: INVALID under every scorer with a
            ladder (strict, lenient), and `official` judges the raw text.
        verbatim: `text` is a prediction read from a predictions file: `official` judges it as it
            is, never the option an extraction read from it.
        official: the official rule of the item's benchmark.

    Returns:
        The extractions, the text `official` judged, and each scorer's verdict.
    """
    if text is None:
        return Scored(dict.fromkeys(readings()), "", dict.fromkeys(scorer_names(), False))
    table = scorers()
    extractions = {
        row.name: Extraction(row.name, INVALID, "") if truncated else row.read(text, choices)
        for row in table
        if row.read is not None
    }
    chosen = extractions[PREDICTION_READING]
    prediction = text if verbatim else prediction_text(text, choices, chosen)
    return Scored(
        extractions=extractions,
        answer_prediction=prediction,
        correct={
            row.name: row.judge(
                Answer(answer, choices, prediction, extractions.get(row.name), official)
            )
            for row in table
        },
    )
