"""Where an answer names an item's options (by text or letter), and whether it hedges between them.

Every function here runs in time linear in the text it is given: the extraction ladder reads answers
of megabytes (a model looping until its token budget), see perf/scoring.py.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

DECOR = " \t\r\n*_`\"'“”‘’「」『』"
TRAILING = DECOR + ".,;:!?。、"


def fold(text: str) -> str:
    """Compatibility-normalised, case-folded, with runs of whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def key(text: str) -> str:
    """An option text reduced to what identifies it: no case, spacing, quotes or end punctuation."""
    return fold(text).strip(TRAILING)


def joins(left: str, right: str) -> bool:
    """Whether two adjacent characters belong to one word (CJK characters never join: Chinese
    has no spaces, so an option text may sit between any two characters)."""
    return left < "\u2e80" and right < "\u2e80" and left.isalnum() and right.isalnum()


def same_length_fold(text: str) -> str:
    """Case-folded character by character, so that positions match the original text."""
    folded = text.casefold()
    if len(folded) == len(text):  # every character folded to one (no "ß" -> "ss")
        return folded
    return "".join(f if len(f := c.casefold()) == 1 else c for c in text)


@dataclass(frozen=True)
class Read:
    """What one rung read. index None: an explicit answer that names no single option (a letter
    out of range, a hedge between options, a letter contradicted by the option text after it);
    the ladder stops there rather than hunting for another option elsewhere in the text."""

    index: int | None
    rule: str


@dataclass(frozen=True)
class Ref:
    """One option named in a phrase, by its letter or by its text."""

    start: int
    end: int
    option: str
    """The option's text (options repeated verbatim are one option)."""


class Options:
    """An item's choices as the extraction rungs see them."""

    def __init__(self, choices: Sequence[str], n: int) -> None:
        self.n = n
        self.choices = tuple(choices)
        self.keys = [key(c) for c in choices]
        self.texts = {same_length_fold(" ".join(c.split())).strip(TRAILING): c for c in choices}
        self.longest = max(len(k) for k in self.keys)
        self.longest_ref = max(3, *(len(t) for t in self.texts)) + 1
        """Longer than any reference: a letter ("(b)") or an option text."""
        self.span_margin = sum(len(t) + 1 for t in self.texts) + 8
        """How far from the end of a cut-off text its option spans may differ from the whole
        text's (see `option_spans`): each option text, longest first, can shift the next."""
        unused = (chr(c) for c in range(0xE000, 0xF900) if all(chr(c) not in x for x in choices))
        sentinel = next(unused)
        self.sentinel = sentinel * (self.longest + 2)
        """Private-use characters that no option contains: appended to a cut-off phrase, they
        read as text that no option, letter or hedge word can start or continue."""
        self._refs: tuple[str, list[Ref]] | None = None

    def by_key(self, phrase_key: str) -> Read | None:
        """The option whose text is `phrase_key`. Options repeated verbatim (MMAU has some) are
        one answer, read as the first; options that differ only in case or punctuation are
        refused."""
        hits = [i for i, k in enumerate(self.keys) if k and k == phrase_key]
        if not hits:
            return None
        same = len({self.choices[i] for i in hits}) == 1
        return Read(hits[0] if same else None, "")

    def by_prefix(self, phrase: str) -> Read | None:
        """The longest option text that `phrase` starts with, ending at a word boundary."""
        best = ""
        for k in self.keys:
            if not k or not phrase.startswith(k) or len(k) <= len(best):
                continue
            if len(phrase) == len(k) or not joins(k[-1], phrase[len(k)]):
                best = k
        return self.by_key(best) if best else None

    def refs(self, text: str) -> Mentions:
        """The options `text` names (kept for the last text asked: the rungs of one ladder ask
        about the same answer)."""
        if self._refs is None or self._refs[0] is not text:
            self._refs = (text, refs(text, self))
        return Mentions(text, self._refs[1])


def blot(text: str, spans: Iterable[tuple[int, int, str]]) -> str:
    """`text` with the given spans replaced by NUL characters (same length)."""
    pieces, at = [], 0
    for start, end, _ in sorted(spans):
        pieces += [text[at:start], "\x00" * (end - start)]
        at = end
    pieces.append(text[at:])
    return "".join(pieces)


def option_spans(folded: str, keys: Iterable[str]) -> list[tuple[int, int, str]]:
    """(start, end, key) of each whole-word occurrence of an option key in a folded text.

    Longer keys are found first and their occurrences blotted out, so that "dog" inside "dog
    barking" or the letters inside the option "D and A" are not found again; "man" inside
    "woman" is not a match at all (word boundaries). Keys of equal length are taken in the
    order of their text. The text is rebuilt once per key, never per occurrence."""
    spans: list[tuple[int, int, str]] = []
    blotted = folded
    for k in sorted({k for k in keys if k}, key=lambda k: (-len(k), k)):
        found: list[tuple[int, int, str]] = []
        for match in re.finditer(re.escape(k), blotted):
            start, end = match.span()
            # An earlier occurrence of the same key never decides these boundaries: it ends in
            # k[-1] next to k[0], which it already found not to join.
            if (start > 0 and joins(blotted[start - 1], k[0])) or (
                end < len(blotted) and joins(k[-1], blotted[end])
            ):
                continue
            found.append((start, end, k))
        if found:
            spans += found
            blotted = blot(folded, spans)
    return spans


_LETTER_REF = re.compile(
    r"(?<![0-9A-Za-z])(?:[(\[](?P<any>[A-Za-z])[)\]]|(?P<lower>[a-z])\)"
    r"|(?P<upper>[A-Z])(?:[)\]]|[.:](?=\s|$))?)(?![0-9A-Za-z])"
)


def refs(phrase: str, options: Options) -> list[Ref]:
    """The options a phrase names, in order: option texts (see `option_spans`), then capital
    letters in range, or bracketed letters of either case ("(b)", "b)"), outside those texts."""
    spans = option_spans(same_length_fold(phrase), options.texts)
    found = [Ref(start, end, options.texts[k]) for start, end, k in spans]
    for match in _LETTER_REF.finditer(blot(phrase, spans)):
        index = ALPHABET.index((match["any"] or match["lower"] or match["upper"]).upper())
        if index < options.n:
            found.append(Ref(match.start(), match.end(), options.choices[index]))
    return sorted(found, key=lambda r: r.start)


# The words that may stand between two options an answer commits to ("A or B", "alpha, maybe
# beta", "either A or C", "A或B"): fillers, and joiners, one of which two different options need.
_FILLER = (
    r"[\s()\[\]*_`\"'“”‘’「」『』【】]"
    r"|\b(?:maybe|perhaps|possibly|probably|likely|most|also|either|both|options?|choices?)\b"
    r"|选项|可能|也许|也"
)
_JOINER = r"[,/&、|+]|\b(?:or|and)\b|或者|或|还是|和|与|以及"
_GAP_WORDS = re.compile(rf"(?:{_FILLER}|{_JOINER})*", re.IGNORECASE)
_JOINS_OPTIONS = re.compile(_JOINER, re.IGNORECASE)
_FILLERS_ONLY = re.compile(rf"(?:{_FILLER})*", re.IGNORECASE)

# The words that may stand between a chosen option and another one it keeps open ("(A). Or maybe
# B", "A, but it could also be B", "A，也可能是B"): the words above, sentence punctuation, and a few
# connectives; at least one hedge word (_OPEN_MARK) must be among them. A word outside the list
# ("not", "rather", "wrong", "because") makes the other option a rejection, not a hedge.
_OPEN_WORDS = [
    *("maybe", "perhaps", "possibly", "probably", "likely", "most", "also", "either", "both"),
    *("option", "options", "choice", "choices", "or", "and", "but", "though", "although", "yet"),
    *("it", "its", "this", "that", "the", "a", "an", "i", "think", "guess", "answer", "is", "be"),
    *("would", "could", "might", "may", "can", "alternatively", "otherwise", "else", "even"),
    "then",
]
_OPEN_PUNCT = r"\s()\[\]*_`\"'“”‘’「」『』【】,/&、|+.;:!?\-–—…。$"
_OPEN_CJK = "或者|或|可能|也许|也|还是|是|和|与|以及|选项"
_OPEN_GAP = re.compile(
    rf"(?:[{_OPEN_PUNCT}]|\b(?:{'|'.join(_OPEN_WORDS)})\b|{_OPEN_CJK})*+", re.IGNORECASE
)
_OPEN_MARK = re.compile(
    r"\b(?:or|maybe|perhaps|possibly|either|could|might|may|alternatively|otherwise)\b"
    r"|/|或|可能|也许|还是",
    re.IGNORECASE,
)
_NEGATED = re.compile(r"(?:\b(?:not|no|never|nor|isn't|aren't)\b\W*|不是?\s*)$", re.IGNORECASE)
# Letters that IGNORECASE matches to ASCII ones (İ ı ſ K): a word holding one is never a blocker.
_LETTERS = "A-Za-z\u0130\u0131\u017f\u212a"
_BLOCKER = re.compile(
    rf"[^{_OPEN_PUNCT}{_LETTERS}或者可能也许还是和与以及选项]"
    r"|(?<!或)者|可(?!能)|(?<!可)能|(?<!也)许|还(?!是)|以(?!及)|(?<!以)及|选(?!项)|(?<!选)项"
    rf"|(?<![{_LETTERS}])(?!(?i:{'|'.join(_OPEN_WORDS)})(?![{_LETTERS}]))[A-Za-z]+(?![{_LETTERS}])"
)
"""A character or a whole word that neither a chain of options nor a hedge can run through."""


def opens(gap: str) -> bool:
    """Whether the words between a chosen option and another one keep the other open."""
    return _OPEN_GAP.fullmatch(gap) is not None and _OPEN_MARK.search(gap) is not None


def _may_name(phrase: str, end: int, options: Options) -> bool:
    """Whether a reference could start before `end` (blotting option texts out, as `refs`
    does, only removes references, never adds one)."""
    letter = _LETTER_REF.search(phrase, 0, end + 5)
    if letter is not None and letter.start() < end:
        return True
    head = same_length_fold(phrase[: end + options.longest_ref])
    return any(head.find(t, 0, end + len(t)) >= 0 for t in options.texts if t)


class NeedsMore(Exception):
    """A cut-off phrase ends before the hedge question is decided: read a longer piece."""


def hedges(phrase: str, options: Options, exact: int | None = None) -> bool:
    """Whether an answer phrase commits to more than one option, or to one while keeping another
    open.

    The commitment is the chain of options at the very start of the phrase (after words such
    as "either", "maybe", "option"), each joined to the next by "or", "and", a comma, a slash,
    "&", "或", "还是", "和", "、" (hedge words such as "maybe" may sit beside them). A letter
    followed by its own option text ("A (alpha)") names one option. An option text containing
    "or", "and" or a comma ("rock and roll", "Piano, Guitar") is read whole first, so it names
    one option. A phrase that does not start with an option commits to none.

    The chain ends at anything else. The option named next keeps the chain open when only hedge
    words stand between (`opens`: "(A). Or maybe B", "A, but it could be B", "A (or perhaps B)",
    "A / B"); it does not when a word of rejection or explanation does ("B because A is wrong",
    "alpha, not beta", "A rather than B", "B. A is too quiet", "A; B is wrong").

    Args:
        phrase: the answer phrase.
        options: the item's options.
        exact: for a phrase cut off from a longer one (and followed by `options.sentinel`), how
            much of it is the longer phrase's start: references ending after it are not trusted.

    Raises:
        NeedsMore: with `exact`, when the answer depends on what follows the cut.
    """
    trusted = len(phrase) if exact is None else exact
    # The chain must start where the leading fillers end (a filler word at most 9 characters
    # on); most phrases name no option there, which is decided without finding every reference.
    first = _FILLERS_ONLY.match(phrase).end() + 9  # type: ignore[union-attr]  # `*` always matches
    if first + options.longest_ref + 4 < trusted and not _may_name(phrase, first, options):
        return False
    found = refs(phrase, options)

    def decided_at(position: int) -> bool:
        """Nothing from `position` on can continue a chain or a hedge: a cut-off phrase holds a
        blocker before the last option reference that could start after the cut."""
        if exact is None:
            return True
        limit = exact - options.longest_ref
        blocker = _BLOCKER.search(phrase, position, max(position, exact))
        if blocker is None or blocker.end() >= limit:
            raise NeedsMore
        return True

    if not found or found[0].end > trusted:
        decided_at(0)
        return False
    if not _FILLERS_ONLY.fullmatch(phrase, 0, found[0].start):
        return False
    chosen = {found[0].option}
    before = found[0]
    for ref in found[1:]:
        if ref.end > trusted:
            break
        gap = phrase[before.end : ref.start]
        if _GAP_WORDS.fullmatch(gap) and (
            ref.option == before.option or _JOINS_OPTIONS.search(gap)
        ):
            chosen.add(ref.option)
            if len(chosen) > 1:
                return True
            before = ref
            continue
        return ref.option != before.option and opens(gap)
    decided_at(before.end)
    return False


@dataclass(frozen=True)
class Mentions:
    """Every option reference in one answer text."""

    text: str
    refs: list[Ref]

    @cached_property
    def _starts(self) -> list[int]:
        return [r.start for r in self.refs]

    @cached_property
    def _ends(self) -> list[int]:
        return [r.end for r in self.refs]

    def kept_open(self, start: int, end: int, option: str) -> bool:
        """Whether the option named at text[start:end] is hedged with another one named right
        after it, or right before it (unless that one is negated: "not B. Maybe (A)"), with only
        hedge words between (see `hedges`)."""
        after = bisect.bisect_left(self._starts, end)
        if after < len(self.refs):
            other = self.refs[after]
            if other.option != option and opens(self.text[end : other.start]):
                return True
        before = bisect.bisect_right(self._ends, start) - 1
        if before >= 0:
            other = self.refs[before]
            negated = _NEGATED.search(self.text, max(0, other.start - 16), other.start)
            if other.option != option and not negated and opens(self.text[other.end : start]):
                return True
        return False

    def option_kept_open(self, option: str) -> bool:
        """Whether any mention of `option` is kept open with another option."""
        return any(r.option == option and self.kept_open(r.start, r.end, option) for r in self.refs)
