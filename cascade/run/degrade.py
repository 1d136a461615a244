"""Degrade a text on purpose, reproducibly: truncation, word dropout, simulated ASR errors.

Pure functions on strings. Whitespace between the words that are kept is preserved (line breaks
in measurements and tag lists survive); a word is any run of non-space characters. Randomness
comes from a `random.Random` the caller seeds, so every degradation is reproducible per item.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

_TOKENS = re.compile(r"\S+|\s+")
_VOWELS = "aeiou"

SOUND_ALIKES: dict[str, str] = {
    "their": "there",
    "there": "their",
    "to": "two",
    "two": "to",
    "too": "to",
    "for": "four",
    "four": "for",
    "no": "know",
    "know": "no",
    "right": "write",
    "write": "right",
    "here": "hear",
    "hear": "here",
    "one": "won",
    "won": "one",
    "by": "buy",
    "buy": "by",
    "see": "sea",
    "sea": "see",
    "eight": "ate",
    "ate": "eight",
    "high": "hi",
    "new": "knew",
    "knew": "new",
    "be": "bee",
    "week": "weak",
    "weak": "week",
    "hour": "our",
    "our": "hour",
    "its": "it's",
}
"""Homophones a recogniser confuses; other words get a one-letter change."""

FILLERS = ("the", "a", "and", "uh", "of", "to", "in", "it", "is", "um")
"""Short words a recogniser inserts."""

ERROR_WEIGHTS = {"substitution": 0.6, "deletion": 0.2, "insertion": 0.2}
"""Share of each error type among simulated recognition errors (substitutions dominate)."""


def _tokens(text: str) -> list[str]:
    return _TOKENS.findall(text)


def _is_word(token: str) -> bool:
    return not token.isspace()


def word_count(text: str) -> int:
    return len(text.split())


def truncate(text: str, words: int) -> str:
    """The text up to and including its `words`-th word (trailing whitespace removed)."""
    if words <= 0:
        return ""
    seen = 0
    kept: list[str] = []
    for token in _tokens(text):
        kept.append(token)
        if _is_word(token):
            seen += 1
            if seen == words:
                break
    return "".join(kept).rstrip()


def _remove_words(tokens: list[str], drop: set[int]) -> str:
    """The text without the word tokens at indices `drop`, each with the space before it (or
    after it, for a first word)."""
    out: list[str] = []
    skip_space = False
    for index, token in enumerate(tokens):
        if index in drop:
            if out and out[-1].isspace():
                out.pop()
            else:
                skip_space = True
            continue
        if skip_space and token.isspace():
            skip_space = False
            continue
        skip_space = False
        out.append(token)
    return "".join(out)


def word_dropout(text: str, rate: float, rng: random.Random) -> str:
    """Each word dropped independently with probability `rate`."""
    if rate <= 0:
        return text
    tokens = _tokens(text)
    drop = {i for i, t in enumerate(tokens) if _is_word(t) and rng.random() < rate}
    return _remove_words(tokens, drop)


def sound_alike(word: str, rng: random.Random) -> str:
    """A different word a recogniser might write for `word` (punctuation around it kept)."""
    match = re.fullmatch(r"(\W*)(.*?)(\W*)", word)
    assert match is not None  # the pattern matches any string
    before, core, after = match.groups()
    if not core:
        return rng.choice(FILLERS)
    lower = core.lower()
    if lower in SOUND_ALIKES:
        swapped = SOUND_ALIKES[lower]
        return before + (swapped.capitalize() if core[0].isupper() else swapped) + after
    if core.isdigit():
        position = rng.randrange(len(core))
        digit = rng.choice([d for d in "0123456789" if d != core[position]])
        return before + core[:position] + digit + core[position + 1 :] + after
    vowels = [i for i, c in enumerate(lower) if c in _VOWELS]
    if vowels:
        position = rng.choice(vowels)
        vowel = rng.choice([v for v in _VOWELS if v != lower[position]])
        if core[position].isupper():
            vowel = vowel.upper()
        return before + core[:position] + vowel + core[position + 1 :] + after
    if len(core) > 1:
        position = rng.randrange(len(core))
        return before + core[:position] + core[position + 1 :] + after
    return before + rng.choice([f for f in FILLERS if f != lower]) + after


@dataclass(frozen=True)
class Corrupted:
    """A text with simulated recognition errors, and how many of each kind were made."""

    text: str
    words: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions


def asr_errors(text: str, wer: float, rng: random.Random) -> Corrupted:
    """The text with simulated ASR errors at word error rate `wer`.

    Exactly round(wer * words) word positions are chosen (without replacement); each becomes a
    substitution (a sound-alike or one-letter change), a deletion, or an insertion of a short
    filler word after it, in the proportions of `ERROR_WEIGHTS`. The edits number exactly the
    target rate times the words (rounded); a word alignment of the result against the original
    can measure slightly less, since an insertion beside a deletion aligns as one substitution.
    """
    tokens = _tokens(text)
    positions = [i for i, t in enumerate(tokens) if _is_word(t)]
    count = min(len(positions), round(wer * len(positions)))
    chosen = sorted(rng.sample(positions, count))
    kinds = rng.choices(list(ERROR_WEIGHTS), weights=list(ERROR_WEIGHTS.values()), k=count)
    deleted: set[int] = set()
    inserted: dict[int, str] = {}
    substitutions = 0
    for index, kind in zip(chosen, kinds, strict=True):
        if kind == "substitution":
            tokens[index] = sound_alike(tokens[index], rng)
            substitutions += 1
        elif kind == "deletion":
            deleted.add(index)
        else:
            inserted[index] = rng.choice(FILLERS)
    for index in sorted(inserted, reverse=True):
        tokens[index + 1 : index + 1] = [" ", inserted[index]]
        deleted = {i + 2 if i > index else i for i in deleted}
    return Corrupted(
        text=_remove_words(tokens, deleted),
        words=len(positions),
        substitutions=substitutions,
        deletions=len(deleted),
        insertions=len(inserted),
    )
