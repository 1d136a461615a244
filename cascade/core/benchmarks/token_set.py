"""The official scoring rule of MMAR and MMAU: the token-set match of their `string_match`."""

from __future__ import annotations

import re
from collections.abc import Sequence

_WORD = re.compile(r"\b\w+\b")


def official_words(text: str) -> frozenset[str]:
    """The word set the official MMAR and MMAU scripts compare: lower-cased `\\b\\w+\\b` tokens.

    Args:
        text: any text.

    Returns:
        The distinct words of the text (Unicode word characters; `str.lower`, not casefold).
    """
    return frozenset(_WORD.findall(text.lower()))


def token_set_match(answer: str, prediction: str, choices: Sequence[str]) -> bool:
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
