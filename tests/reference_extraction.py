"""A frozen copy of cascade/scoring/extraction.py as it was at commit 11d0f55, before scoring was
made linear in the answer's length (issue 16, item 2). tests/test_extraction_linear.py reads
generated answers with it and with the current code and requires the same verdict.

The one change: option texts of equal length are ordered by their text in `_option_spans`
(`sorted(..., key=lambda k: (-len(k), k))`); at 11d0f55 their order was that of a set of strings,
which depends on the process's hash seed, so that two equal-length option texts overlapping in an
answer ("a b" and "b c" in "a b c") were read one way or the other from run to run. Nothing else
is edited: do not "fix" this file, it is the reference.
"""

# ruff: noqa
# mypy: ignore-errors

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

INVALID = None
"""The index of an extraction that names no single option; such an answer is scored wrong."""

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

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


@dataclass(frozen=True)
class _Read:
    """What one rung read. index None: an explicit answer that names no single option (a letter
    out of range, a hedge between options, a letter contradicted by the option text after it);
    the ladder stops there rather than hunting for another option elsewhere in the text."""

    index: int | None
    rule: str


_Rung = Callable[[str, "_Options"], "_Read | None"]

_DECOR = " \t\r\n*_`\"'“”‘’「」『』"
_TRAILING = _DECOR + ".,;:!?。、"
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
_BOXED = re.compile(r"\\boxed\{\s*(?:\\text\{)?\s*(?P<inner>[^{}]*?)\s*\}?\s*\}")


def _fold(text: str) -> str:
    """Compatibility-normalised, case-folded, with runs of whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _key(text: str) -> str:
    """An option text reduced to what identifies it: no case, spacing, quotes or end punctuation."""
    return _fold(text).strip(_TRAILING)


def _joins(left: str, right: str) -> bool:
    """Whether two adjacent characters belong to one word (CJK characters never join: Chinese
    has no spaces, so an option text may sit between any two characters)."""
    return all(c.isalnum() and ord(c) < 0x2E80 for c in (left, right))


class _Options:
    """An item's choices as the extraction rungs see them."""

    def __init__(self, choices: Sequence[str]) -> None:
        self.n = len(option_letters(len(choices)))
        self.choices = tuple(choices)
        self.keys = [_key(c) for c in choices]

    def by_key(self, key: str) -> _Read | None:
        """The option whose text is `key`. Options repeated verbatim (MMAU has some) are one
        answer, read as the first; options that differ only in case or punctuation are refused."""
        hits = [i for i, k in enumerate(self.keys) if k and k == key]
        if not hits:
            return None
        same = len({self.choices[i] for i in hits}) == 1
        return _Read(hits[0] if same else INVALID, "")

    def by_prefix(self, phrase: str) -> _Read | None:
        """The longest option text that `phrase` starts with, ending at a word boundary."""
        best = ""
        for k in self.keys:
            if not k or not phrase.startswith(k) or len(k) <= len(best):
                continue
            if len(phrase) == len(k) or not _joins(k[-1], phrase[len(k)]):
                best = k
        return self.by_key(best) if best else None


_FILLER = (
    r"[\s()\[\]*_`\"'“”‘’「」『』【】]"
    r"|\b(?:maybe|perhaps|possibly|probably|likely|most|also|either|both|options?|choices?)\b"
    r"|选项|可能|也许|也"
)
_JOINER = r"[,/&、|+]|\b(?:or|and)\b|或者|或|还是|和|与|以及"
_GAP_WORDS = re.compile(rf"(?:{_FILLER}|{_JOINER})*", re.IGNORECASE)
_JOINS_OPTIONS = re.compile(_JOINER, re.IGNORECASE)
_FILLERS_ONLY = re.compile(rf"(?:{_FILLER})*", re.IGNORECASE)
_LETTER_REF = re.compile(
    r"(?<![0-9A-Za-z])(?:[(\[](?P<any>[A-Za-z])[)\]]|(?P<lower>[a-z])\)"
    r"|(?P<upper>[A-Z])(?:[)\]]|[.:](?=\s|$))?)(?![0-9A-Za-z])"
)


@dataclass(frozen=True)
class _Ref:
    """One option named in a phrase, by its letter or by its text."""

    start: int
    end: int
    option: str
    """The option's text (options repeated verbatim are one option)."""


def _same_length_fold(text: str) -> str:
    """Case-folded character by character, so that positions match the original text."""
    return "".join(f if len(f := c.casefold()) == 1 else c for c in text)


def _option_spans(folded: str, keys: Iterable[str]) -> list[tuple[int, int, str]]:
    """(start, end, key) of each whole-word occurrence of an option key in a folded text.

    Longer keys are found first and their occurrences blotted out, so that "dog" inside "dog
    barking" or the letters inside the option "D and A" are not found again; "man" inside
    "woman" is not a match at all (word boundaries)."""
    spans: list[tuple[int, int, str]] = []
    for key in sorted({k for k in keys if k}, key=lambda k: (-len(k), k)):
        for match in re.finditer(re.escape(key), folded):
            start, end = match.span()
            if (start > 0 and _joins(folded[start - 1], key[0])) or (
                end < len(folded) and _joins(key[-1], folded[end])
            ):
                continue
            spans.append((start, end, key))
            folded = folded[:start] + "\x00" * (end - start) + folded[end:]
    return spans


def _refs(phrase: str, options: _Options) -> list[_Ref]:
    """The options a phrase names, in order: option texts (see `_option_spans`), then capital
    letters in range, or bracketed letters of either case ("(b)", "b)"), outside those texts."""
    texts = {_same_length_fold(" ".join(c.split())).strip(_TRAILING): c for c in options.choices}
    spans = _option_spans(_same_length_fold(phrase), texts)
    refs = [_Ref(start, end, texts[key]) for start, end, key in spans]
    blotted = list(phrase)
    for start, end, _ in spans:
        blotted[start:end] = "\x00" * (end - start)
    for match in _LETTER_REF.finditer("".join(blotted)):
        index = _ALPHABET.index((match["any"] or match["lower"] or match["upper"]).upper())
        if index < options.n:
            refs.append(_Ref(match.start(), match.end(), options.choices[index]))
    return sorted(refs, key=lambda r: r.start)


def _committed(phrase: str, options: _Options) -> set[str]:
    """The options an answer phrase commits to (their texts).

    The commitment is the chain of options at the very start of the phrase (after words such
    as "either", "maybe", "option"), each joined to the next by "or", "and", a comma, a slash,
    "&", "或", "还是", "和", "、" (hedge words such as "maybe" may sit beside them). A letter
    followed by its own option text ("A (alpha)") names one option. Anything else ends the
    chain: an explanation ("B because A is wrong", "alpha, not beta", "B. A is too quiet"),
    a sentence, or another option named without a joining word. An option text containing
    "or", "and" or a comma ("rock and roll", "Piano, Guitar") is read whole first, so it names
    one option. A phrase that does not start with an option commits to none.
    """
    refs = _refs(phrase, options)
    if not refs or not _FILLERS_ONLY.fullmatch(phrase, 0, refs[0].start):
        return set()
    chosen = {refs[0].option}
    for before, ref in itertools.pairwise(refs):
        gap = phrase[before.end : ref.start]
        if not _GAP_WORDS.fullmatch(gap):
            break
        if ref.option != before.option and not _JOINS_OPTIONS.search(gap):
            break
        chosen.add(ref.option)
    return chosen


def _hedges(phrase: str, options: _Options) -> bool:
    """Whether an answer phrase commits to more than one option (see `_committed`)."""
    return len(_committed(phrase, options)) > 1


def _read_letter(phrase: str, options: _Options, rule: str, *, free_text: bool) -> _Read | None:
    """Read an option letter at the start of `phrase` (e.g. "B", "(B)", "b)", "B) Too little",
    "B because ..."). Text after the letter must not name another option; unless `free_text`,
    it must be the letter's own option text or nothing."""
    head = _LETTER_HEAD.fullmatch(phrase)
    if head is None:
        return None
    letter, closed, rest = head["letter"], head["close"] is not None, head["rest"]
    if _HEDGE.match(rest):
        return _Read(INVALID, rule)
    if not closed and not _AFTER_LETTER.match(rest):
        return None
    tail = rest.strip(_TRAILING + ")]:-–—")
    if letter.islower() and not closed and tail:
        return None  # "a dog ..." is an article, not option A
    index = _ALPHABET.index(letter.upper())
    if index >= options.n:
        return _Read(INVALID, rule)
    if tail:
        named = options.by_key(_key(tail))
        if named is not None and named.index != index:
            return _Read(INVALID, rule)
        if named is None and not free_text:
            return None
    return _Read(index, rule)


def _clean_phrase(phrase: str) -> str:
    phrase = _BOXED.sub(lambda m: m["inner"], phrase)
    return phrase.strip(_DECOR)


def _read_phrase(
    phrase: str,
    options: _Options,
    letter_rule: str,
    text_rule: str,
    *,
    prefix: bool,
    free_text: bool = True,
) -> _Read | None:
    """Read the words after an answer key: an option's exact text, then a letter, then (when
    `prefix`) an option text followed by an explanation. A phrase that is one option's text and
    another option's letter ("D" when option C reads "D") is refused."""
    phrase = _clean_phrase(phrase)
    if _hedges(phrase, options):
        return _Read(INVALID, text_rule)
    exact = options.by_key(_key(phrase))
    by_letter = _read_letter(phrase, options, letter_rule, free_text=free_text)
    if exact is not None:
        if by_letter is not None and by_letter.index not in (INVALID, exact.index):
            return _Read(INVALID, text_rule)
        return _Read(exact.index, text_rule)
    if by_letter is not None:
        return by_letter
    if prefix:
        start = options.by_prefix(_fold(phrase).lstrip(_DECOR))
        if start is not None:
            return _Read(start.index, text_rule)
    return None


def _last_read(
    pattern: re.Pattern[str], text: str, read: Callable[[re.Match[str]], _Read | None]
) -> _Read | None:
    """The last match of `pattern` that reads as an answer."""
    for match in reversed(list(pattern.finditer(text))):
        found = read(match)
        if found is not None:
            return found
    return None


_ANSWER_LINE = re.compile(
    r"^[\s>#*_\-`]*(?:final\s+)?answer[\s*_`]*:(?P<phrase>.*)$", re.IGNORECASE | re.MULTILINE
)


def _answer_line(text: str, options: _Options) -> _Read | None:
    """The last `ANSWER: ...` line decides; an unreadable last line reads nothing."""
    lines = list(_ANSWER_LINE.finditer(text))
    if not lines:
        return None
    return _read_phrase(
        lines[-1]["phrase"], options, "answer-line-letter", "answer-line-text", prefix=False
    )


_ANSWER_IS = re.compile(
    r"(?:\b(?:answer|choice|(?:correct|right|best|final)\s+option)"
    r"\s*(?:(?:is|would\s+be|should\s+be|will\s+be)\s*:?|[:=])"
    r"|\bi\s*(?:would\s+|will\s+|'ll\s+|'d\s+)?(?:choose|pick|select|go\s+with))"
    r"[\s*_`]*(?:(?:option|choice)\s+)?(?=(?P<phrase>[^\n]*))",
    re.IGNORECASE,
)


def _answer_is(text: str, options: _Options) -> _Read | None:
    return _last_read(
        _ANSWER_IS,
        text,
        lambda m: _read_phrase(m["phrase"], options, "answer-is", "answer-is-text", prefix=True),
    )


_CHINESE_ANSWER = re.compile(
    r"(?:答案\s*(?:应该|应当|应)?\s*(?:是|为|:)|选项\s*(?:应该|应)?\s*(?:是|为)|选择?(?!项))"
    r"\s*:?\s*(?:选项)?(?=(?P<phrase>[^\n]*))"
)


def _chinese_answer(text: str, options: _Options) -> _Read | None:
    def read(match: re.Match[str]) -> _Read | None:
        phrase = _clean_phrase(match["phrase"])
        found = _read_phrase(phrase, options, "chinese-answer", "chinese-answer-text", prefix=True)
        if found is None:
            # Chinese runs on without a break: "答案是狗叫声，因为..." starts with an option text.
            start = options.by_prefix(_fold(phrase))
            found = None if start is None else _Read(start.index, "chinese-answer-text")
        return found

    return _last_read(_CHINESE_ANSWER, text, read)


_BOXED_ANYWHERE = re.compile(r"\\boxed\{")


def _boxed_letter(text: str, options: _Options) -> _Read | None:
    def read(match: re.Match[str]) -> _Read | None:
        box = _BOXED.match(text, match.start())
        if box is None:
            return None
        inner = _clean_phrase(box["inner"])
        if _hedges(inner, options):
            return _Read(INVALID, "boxed-letter")
        return _read_letter(inner, options, "boxed-letter", free_text=False)

    return _last_read(_BOXED_ANYWHERE, text, read)


def _last_line(text: str, options: _Options) -> _Read | None:
    """The last non-empty line (often the whole answer) is exactly an option's text, or an
    option letter alone or followed by its own option text."""
    lines = [line for line in text.splitlines() if line.strip(_TRAILING)]
    if not lines:
        return None
    return _read_phrase(
        lines[-1], options, "bare-letter", "last-line-text", prefix=False, free_text=False
    )


_GAP = re.compile(r"[\s,/&、]*(?:or|and|或者|或|还是|和|与)?[\s,/&、]*", re.IGNORECASE)


def _last_mention(pattern: re.Pattern[str], rule: str) -> _Rung:
    """A rung that takes the last in-range letter `pattern` mentions. Letters out of range are
    not mentions ("(I)" in prose); two letters joined only by "or"/"and" are a hedge."""

    def rung(text: str, options: _Options) -> _Read | None:
        hits = [(m, i) for m in pattern.finditer(text) if (i := _ALPHABET.index(m[1])) < options.n]
        if not hits:
            return None
        (last, index) = hits[-1]
        if len(hits) > 1:
            before, other = hits[-2]
            if other != index and _GAP.fullmatch(text, before.end(), last.start()):
                return _Read(INVALID, rule)
        return _Read(index, rule)

    return rung


_bold_letter = _last_mention(
    re.compile(r"\*\*\s*\(?([A-Z])\)?(?:\s*\*\*|[.):][^*\n]*\*\*)"), "bold-letter"
)
_paren_letter = _last_mention(re.compile(r"(?<![A-Za-z0-9])\(([A-Z])\)"), "paren-letter")
_option_letter = _last_mention(
    re.compile(r"(?:\b(?:[Oo]ption|[Cc]hoice)\s*|选项\s*)[(\[]?([A-Z])(?![A-Za-z0-9])"),
    "option-letter",
)


def _unique_option_text(text: str, options: _Options) -> _Read | None:
    """Exactly one option's text occurs in the answer, as a whole word or phrase, a shorter
    option inside a longer one not counting as a second (see `_option_spans`)."""
    named = {key for _, _, key in _option_spans(_fold(text), options.keys)}
    if len(named) != 1:
        return None if not named else _Read(INVALID, "unique-option-text")
    found = options.by_key(named.pop())
    return None if found is None else _Read(found.index, "unique-option-text")


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
    options = _Options(choices)
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
    delta`, `ANSWER: A (alpha) or maybe B`, `ANSWER: A或B`. Options named after the chosen one in
    an explanation are not a hedge (`ANSWER: B because A is wrong`), and an option whose own
    text holds "or", "and" or a comma (`rock and roll`) is one option.

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
    and beta") stops the ladder: the result is INVALID, never a guess. Letters out of range in mere
    mentions (`(E)`, `**E**`, "option E") are ignored rather than refused.

    Args:
        text: the reasoner's final answer text (without its reasoning trace).
        choices: the item's options, 2 to 26.

    Returns:
        The extraction, method "lenient".
    """
    return _climb("lenient", _LENIENT_LADDER, text, choices)
