"""Which option a reasoner chose: a strict and a lenient extraction ladder over its final text."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cascade.scoring.mentions import (
    ALPHABET,
    DECOR,
    TRAILING,
    NeedsMore,
    Options,
    Read,
    fold,
    hedges,
    key,
    option_spans,
)

INVALID = None
"""The index of an extraction that names no single option; such an answer is scored wrong."""

_ALPHABET = ALPHABET

STRICT_RULES = ("answer-line-letter", "answer-line-text")
"""The rungs of the strict ladder: the `ANSWER:` line the prompt asks for."""

LENIENT_RULES = (
    *STRICT_RULES,
    "last-line-text",
    "bare-letter",
    "answer-is",
    "answer-is-text",
    "chinese-answer",
    "chinese-answer-text",
    "boxed-letter",
    "bold-letter",
    "paren-letter",
    "option-letter",
    "unique-option-text",
)
"""The rungs of the lenient ladder, in the order they are tried; the first that reads wins."""


@dataclass(frozen=True)
class Extraction:
    """The option read from one answer by one extraction method.

    Attributes:
        method: "strict" or "lenient".
        index: the chosen option (0-based), or INVALID (None) when no single option was read.
        rule: the rung that read it (one of LENIENT_RULES); "" when invalid.
    """

    method: str
    index: int | None
    rule: str

    @property
    def valid(self) -> bool:
        return self.index is not INVALID

    @property
    def letter(self) -> str | None:
        return None if self.index is None else _ALPHABET[self.index]


def option_letters(n: int) -> str:
    """The letters of an item's options.

    Args:
        n: the number of choices, 2 to 26.

    Returns:
        "AB" for 2 choices, "ABCD" for 4, and so on.

    Raises:
        ValueError: when n is outside 2..26.
    """
    if not 2 <= n <= len(_ALPHABET):
        raise ValueError(f"an item needs 2 to {len(_ALPHABET)} choices to be lettered, got {n}")
    return _ALPHABET[:n]


_Rung = Callable[[str, Options], "Read | None"]

_HEDGE = re.compile(
    r"(?:\s+(?:or|and)\s|\s*(?:[/,&、]|或者|或|还是|和|与))"
    r"\s*(?:option\s+|choice\s+|选项)?[(\[]?[A-Za-z](?![A-Za-z0-9])",
    re.IGNORECASE,
)
_AFTER_LETTER = re.compile(
    r"$|[^\x00-\x7f]|[)\].:,;!?*/\-–—]"
    r"|\s+(?:$|[(\-–—:*]|because\b|since\b|as\b|which\b|given\b|due\b|for\b|based\b)",
    re.IGNORECASE,
)
_LETTER_HEAD = re.compile(r"[(\[]?(?P<letter>[A-Za-z])(?P<close>[)\]])?(?P<rest>.*)", re.DOTALL)
# Possessive runs: a lazy inner text followed by optional spaces backtracked over every space of
# a long run (cubic in it); these read the same boxes in linear time.
_BOXED = re.compile(r"\\boxed\{\s*+(?:\\text\{\s*+)?(?P<inner>(?:\s*+[^{}\s])*+)\s*+\}?\s*+\}")


def _read_letter(phrase: str, options: Options, rule: str, *, free_text: bool) -> Read | None:
    """Read an option letter at the start of `phrase` (e.g. "B", "(B)", "b)", "B) Too little",
    "B because ..."). Text after the letter must not name another option; unless `free_text`,
    it must be the letter's own option text or nothing."""
    head = _LETTER_HEAD.fullmatch(phrase)
    if head is None:
        return None
    letter, closed, rest = head["letter"], head["close"] is not None, head["rest"]
    if _HEDGE.match(rest):
        return Read(INVALID, rule)
    if not closed and not _AFTER_LETTER.match(rest):
        return None
    tail = rest.strip(TRAILING + ")]:-–—")
    if letter.islower() and not closed and tail:
        return None  # "a dog ..." is an article, not option A
    index = _ALPHABET.index(letter.upper())
    if index >= options.n:
        return Read(INVALID, rule)
    if tail:
        named = options.by_key(key(tail))
        if named is not None and named.index != index:
            return Read(INVALID, rule)
        if named is None and not free_text:
            return None
    return Read(index, rule)


def _clean_phrase(phrase: str) -> str:
    phrase = _BOXED.sub(lambda m: m["inner"], phrase)
    return phrase.strip(DECOR)


def _read_phrase(
    phrase: str,
    options: Options,
    letter_rule: str,
    text_rule: str,
    *,
    prefix: bool,
    free_text: bool = True,
    exact: int | None = None,
) -> Read | None:
    """Read the words after an answer key: an option's exact text, then a letter, then (when
    `prefix`) an option text followed by an explanation. A phrase that is one option's text and
    another option's letter ("D" when option C reads "D") is refused. `exact`: see `hedges`."""
    phrase = _clean_phrase(phrase)
    if hedges(phrase, options, exact):
        return Read(INVALID, text_rule)
    exact_text = options.by_key(key(phrase))
    by_letter = _read_letter(phrase, options, letter_rule, free_text=free_text)
    if exact_text is not None:
        if by_letter is not None and by_letter.index not in (INVALID, exact_text.index):
            return Read(INVALID, text_rule)
        return Read(exact_text.index, text_rule)
    if by_letter is not None:
        return by_letter
    if prefix:
        start = options.by_prefix(fold(phrase).lstrip(DECOR))
        if start is not None:
            return Read(start.index, text_rule)
    return None


_Reader = Callable[[str, "int | None"], "Read | None"]
"""Reads the phrase after one answer cue; the int: see `hedges` (None: the whole phrase)."""

_SOFT = dict.fromkeys(
    [c for c in range(0x3001) if chr(c).isspace()] + [ord(c) for c in TRAILING + ")]:-–—"]
)
"""Characters that an option key never needs (space, quotes, end punctuation)."""


def _hard(text: str, start: int, end: int) -> int:
    """How many characters of text[start:end] are not in `_SOFT`."""
    return len(text[start:end].translate(_SOFT))


def _last_read(pattern: re.Pattern[str], text: str, options: Options, read: _Reader) -> Read | None:
    """The last cue `pattern` finds whose phrase (the rest of its line) reads as an answer.

    A model that loops writes a cue many times on one line; each phrase then runs to the end of
    that line, and reading each in full costs the square of the line. A phrase with more than
    `4 * options.longest + 8` characters outside `_SOFT` can be no option's text, and neither can
    any part of it after a letter (NFKC joins at most 4 characters into one): what it reads is
    decided by its start. Such a phrase is read from a piece of its start that grows until the
    reading is decided (`_read_start`), with the same result as the whole phrase. A line that
    holds `\\boxed{` is read whole (a box could straddle the cut).
    """
    cues = list(pattern.finditer(text))
    ends: list[int] = []
    newline = -1
    for cue in cues:
        if newline < cue.end():
            newline = text.find("\n", cue.end())
            newline = len(text) if newline < 0 else newline
        ends.append(newline)
    line_end, boxed, hard, following = -1, -1, 0, 0
    for cue, end in zip(reversed(cues), reversed(ends), strict=True):
        start = cue.end()
        if end != line_end:  # the last cue of its line
            line_end, hard = end, _hard(text, start, end)
            boxed = text.rfind("\\boxed{", text.rfind("\n", 0, start) + 1, end)
        else:
            hard += _hard(text, start, following)
        following = start
        if hard > 4 * options.longest + 8 and boxed < start:
            found = _read_start(text, start, end, options, read)
        else:
            found = read(text[start:end], None)
        if found is not None:
            return found
    return None


def _read_start(text: str, start: int, end: int, options: Options, read: _Reader) -> Read | None:
    """Read the phrase text[start:end], known to be no option's text, from its start: a piece
    followed by `options.sentinel`, doubled until `hedges` no longer needs more and the piece
    holds more than the letter rules and the option-text prefixes look at."""
    size = 2 * options.span_margin + 64
    while start + size < end:
        body = text[start : start + size].lstrip(DECOR)
        exact = len(body) - options.span_margin
        head = body[: max(exact, 0)]
        if len(fold(head)) >= options.longest + 8 and len("".join(head.split())) >= 32:
            try:
                return read(body + options.sentinel, exact)
            except NeedsMore:
                pass
        size *= 2
    return read(text[start:end], None)


_ANSWER_LINE = re.compile(
    r"^[\s>#*_\-`]*+(?:(?P<key>(?:final\s+)?answer[\s*_`]*+:)(?P<phrase>.*)$)?",
    re.IGNORECASE | re.MULTILINE,
)
"""An answer line. The leading run may span blank lines; it is taken whole even when no answer
key follows, so that the line starts inside it (which would fail the same way) are not tried
again, each over the rest of the run."""


def _answer_line(text: str, options: Options) -> Read | None:
    """The last `ANSWER: ...` line decides; an unreadable last line reads nothing."""
    last = None
    for line in _ANSWER_LINE.finditer(text):
        if line["key"] is not None:
            last = line
    if last is None:
        return None
    return _read_phrase(
        last["phrase"], options, "answer-line-letter", "answer-line-text", prefix=False
    )


def reasoning_before_answer(text: str) -> str:
    """The reasoning a model wrote in its answer: the text before its final answer line (the
    last `ANSWER:` line, else the last non-empty line), without trailing whitespace. What a
    judge reads as `thinking_prediction` when the model has no separate trace."""
    lines = list(_ANSWER_LINE.finditer(text))
    if lines:
        return text[: lines[-1].start()].rstrip()
    body = text.rstrip()
    cut = body.rfind("\n")
    return body[:cut].rstrip() if cut >= 0 else ""


_ANSWER_IS = re.compile(
    r"(?:\b(?:answer|choice|(?:correct|right|best|final)\s+option)"
    r"\s*(?:(?:is|would\s+be|should\s+be|will\s+be)\s*:?|[:=])"
    r"|\bi\s*(?:would\s+|will\s+|'ll\s+|'d\s+)?(?:choose|pick|select|go\s+with))"
    r"[\s*_`]*(?:(?:option|choice)\s+)?",
    re.IGNORECASE,
)


def _answer_is(text: str, options: Options) -> Read | None:
    return _last_read(
        _ANSWER_IS,
        text,
        options,
        lambda phrase, exact: _read_phrase(
            phrase, options, "answer-is", "answer-is-text", prefix=True, exact=exact
        ),
    )


_CHINESE_ANSWER = re.compile(
    r"(?:答案\s*(?:应该|应当|应)?\s*(?:是|为|:)|选项\s*(?:应该|应)?\s*(?:是|为)|选择?(?!项))"
    r"\s*:?\s*(?:选项)?"
)


def _chinese_answer(text: str, options: Options) -> Read | None:
    def read(raw: str, exact: int | None) -> Read | None:
        phrase = _clean_phrase(raw)
        found = _read_phrase(
            phrase, options, "chinese-answer", "chinese-answer-text", prefix=True, exact=exact
        )
        if found is None:
            # Chinese runs on without a break: "答案是狗叫声，因为..." starts with an option text.
            start = options.by_prefix(fold(phrase))
            found = None if start is None else Read(start.index, "chinese-answer-text")
        return found

    return _last_read(_CHINESE_ANSWER, text, options, read)


_BOXED_ANYWHERE = re.compile(r"\\boxed\{")


def _boxed_letter(text: str, options: Options) -> Read | None:
    for match in reversed(list(_BOXED_ANYWHERE.finditer(text))):
        box = _BOXED.match(text, match.start())
        if box is None:
            continue
        inner = _clean_phrase(box["inner"])
        if hedges(inner, options):
            return Read(INVALID, "boxed-letter")
        found = _read_letter(inner, options, "boxed-letter", free_text=False)
        if found is not None:
            return _unless_kept_open(found, text, options, box.start(), box.end())
    return None


def _unless_kept_open(found: Read, text: str, options: Options, start: int, end: int) -> Read:
    """INVALID when the answer at text[start:end] keeps another option open (see `hedges`)."""
    if found.index is None:
        return found
    if options.refs(text).kept_open(start, end, options.choices[found.index]):
        return Read(INVALID, found.rule)
    return found


def _last_line(text: str, options: Options) -> Read | None:
    """The last non-empty line (often the whole answer) is exactly an option's text, or an
    option letter alone or followed by its own option text."""
    lines = [line for line in text.splitlines() if line.strip(TRAILING)]
    if not lines:
        return None
    return _read_phrase(
        lines[-1], options, "bare-letter", "last-line-text", prefix=False, free_text=False
    )


# Possessive: spaces before and after the joining word are one run (a run split between two
# greedy classes is retried at every split, the square of its length).
_GAP = re.compile(r"[\s,/&、]*+(?:(?:or|and|或者|或|还是|和|与)[\s,/&、]*+)?", re.IGNORECASE)


def _last_mention(pattern: re.Pattern[str], rule: str) -> _Rung:
    """A rung that takes the last in-range letter `pattern` mentions. Letters out of range are
    not mentions ("(I)" in prose); two letters joined only by "or"/"and" are a hedge, and so is
    a mention that keeps another option open ("(A). Or maybe B", see `hedges`)."""

    def rung(text: str, options: Options) -> Read | None:
        hits = [(m, i) for m in pattern.finditer(text) if (i := _ALPHABET.index(m[1])) < options.n]
        if not hits:
            return None
        (last, index) = hits[-1]
        if len(hits) > 1:
            before, other = hits[-2]
            if other != index and _GAP.fullmatch(text, before.end(), last.start()):
                return Read(INVALID, rule)
        return _unless_kept_open(Read(index, rule), text, options, last.start(), last.end())

    return rung


_bold_letter = _last_mention(
    re.compile(r"\*\*\s*\(?([A-Z])\)?(?:\s*\*\*|[.):][^*\n]*\*\*)"), "bold-letter"
)
_paren_letter = _last_mention(re.compile(r"(?<![A-Za-z0-9])\(([A-Z])\)"), "paren-letter")
_option_letter = _last_mention(
    re.compile(r"(?:\b(?:[Oo]ption|[Cc]hoice)\s*|选项\s*)[(\[]?([A-Z])(?![A-Za-z0-9])"),
    "option-letter",
)


def _unique_option_text(text: str, options: Options) -> Read | None:
    """Exactly one option's text occurs in the answer, as a whole word or phrase, a shorter
    option inside a longer one not counting as a second (see `option_spans`), and no mention
    of it keeps another option open."""
    named = {k for _, _, k in option_spans(fold(text), options.keys)}
    if len(named) != 1:
        return None if not named else Read(INVALID, "unique-option-text")
    found = options.by_key(named.pop())
    if found is None:
        return None
    if found.index is not None and options.refs(text).option_kept_open(
        options.choices[found.index]
    ):
        return Read(INVALID, "unique-option-text")
    return Read(found.index, "unique-option-text")


_STRICT_LADDER: tuple[_Rung, ...] = (_answer_line,)
_LENIENT_LADDER: tuple[_Rung, ...] = (
    _answer_line,
    _last_line,
    _answer_is,
    _chinese_answer,
    _boxed_letter,
    _bold_letter,
    _paren_letter,
    _option_letter,
    _unique_option_text,
)


def _climb(method: str, ladder: tuple[_Rung, ...], text: str, choices: Sequence[str]) -> Extraction:
    options = Options(choices, len(option_letters(len(choices))))
    text = unicodedata.normalize("NFKC", text)
    for rung in ladder:
        found = rung(text, options)
        if found is not None:
            if found.index is INVALID:
                break
            return Extraction(method, found.index, found.rule)
    return Extraction(method, INVALID, "")


def extract_strict(text: str, choices: Sequence[str]) -> Extraction:
    """Read the answer line the prompt asks for: `ANSWER: <letter>` or `ANSWER: <option text>`.

    The key is case-insensitive and may carry markdown (`**ANSWER: B**`); the letter may be
    bracketed (`ANSWER: (B)`) or followed by its option text (`Answer: B) Too little`). The last
    answer line decides; options mentioned in the reasoning before it do not count. A letter
    outside the item's range, a letter followed by another option's text, an unreadable last
    answer line, or a hedge is INVALID. A hedge is an answer that commits to more than one
    option, by letters, texts or both: `ANSWER: A or B`, `ANSWER: alpha or beta`, `ANSWER: gamma,
    delta`, `ANSWER: A (alpha) or maybe B`, `ANSWER: A或B`, or that commits to one and keeps
    another open with only hedge words between: `ANSWER: (A). Or maybe B.`, `ANSWER: A, but it
    could be B` (see `mentions.hedges`). Options named after the chosen one to reject it or in
    an explanation are not a hedge (`ANSWER: B because A is wrong`, `ANSWER: A; B is wrong`),
    and an option whose own text holds "or", "and" or a comma (`rock and roll`) is one option.

    Args:
        text: the reasoner's final answer text (without its reasoning trace).
        choices: the item's options, 2 to 26.

    Returns:
        The extraction, method "strict".
    """
    return _climb("strict", _STRICT_LADDER, text, choices)


def extract_lenient(text: str, choices: Sequence[str]) -> Extraction:
    """Read the answer by the strict rule, then by a ladder of common answer forms.

    The rungs, in order (LENIENT_RULES): the strict answer line; a last line (often the whole
    answer) that is exactly an option's text or a letter alone; "the answer is B" / "answer: B"
    / "I choose B" (letter or option text); Chinese answers ("答案是B", "选B", "答案是<option>");
    `\\boxed{B}`; `**B**`; `(B)`; "option B"; and finally an
    answer in which exactly one option's text occurs. Each rung takes its last match. An explicit
    answer that names no single option (a letter out of range; a hedge, as defined for
    `extract_strict`: "the answer is alpha or beta", "A/B", "either A or C", a last line "alpha
    and beta", "I think (A) or maybe B", "It is (A). Or maybe B.", whichever rung reads the
    first option) stops the ladder: the result is INVALID, never a guess. Letters out of range in
    mere mentions (`(E)`, `**E**`, "option E") are ignored rather than refused.

    Args:
        text: the reasoner's final answer text (without its reasoning trace).
        choices: the item's options, 2 to 26.

    Returns:
        The extraction, method "lenient".
    """
    return _climb("lenient", _LENIENT_LADDER, text, choices)
