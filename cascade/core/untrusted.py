"""Make untrusted text (front-end outputs, tool results) harmless to quote inside a prompt.

Text a tool produced (the words spoken in a clip, a caption model's free text) is quoted in a
prompt as data. It must not be able to close its quote, end the user's turn or plant an answer.
`neutralise` replaces three kinds of span with a bracketed note:

- quote tags: an opening or closing tag named like a block the prompt quotes text in;
- control tokens: chat-template and tool-call tokens of the model families cascade runs and of
  the common open ones, by their shape where the family has one (any `<|...|>`, DeepSeek's
  `<｜...｜>`, a snake_case `<start_of_turn>`, an upper-case `[TOOL_CALLS]` or closing `[/INST]`)
  and by name where it has none (`<s>`, `<bos>`, `<think>`, `[INST]`, `<<SYS>>`);
- answer labels, wherever they stand: what an answer extractor or a reader takes for the answer
  (`ANSWER: C`, "Final answer - C", "the answer is C", "I choose C", `答案：C`, `选C`, `\\boxed`).

Matching runs on a folded copy of the text: compatibility forms (fullwidth, small forms) and
look-alike letters (Cyrillic `с`, Greek `Α`: Unicode's confusables table, from the
`confusable-homoglyphs` package) folded to ASCII, invisible characters (zero-width joiners, format
characters, combining marks) dropped, and invisible tag characters read as the ASCII they encode.
The returned text keeps every character of the original outside the replaced spans: a Cyrillic
caption stays Cyrillic.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

TAG_REMOVED = "[tag removed]"
ANSWER_LABEL_REMOVED = "[answer label removed]"

_OPEN = r"(?:<|&lt;?|&#0*60;?|&#x0*3c;?)"
_CLOSE = r"(?:>|&gt;?|&#0*62;?|&#x0*3e;?)"
_SLASH = r"[/\\]"
_ATTRIBUTES = r"(?:\s[^<>\n]*)?"

_NAMED_TOKENS = (
    # sequence and padding tokens (Llama-2, Mistral, Gemma, BERT-style tokenizers)
    "s", "bos", "eos", "pad", "unk", "mask", "sep", "cls",
    # reasoning and tool blocks (DeepSeek-R1, Qwen3, and models trained with answer tags)
    "think", "thinking", "reasoning", "answer", "tools", "tool", "function", "functions",
    # role tags a reader takes for a new turn
    "system", "user", "assistant", "human", "bot",
    # code-corpus tokens of SmolLM2's tokenizer (the embedded default's reasoner)
    "reponame", "filename",
)  # fmt: skip
_BRACKET_TOKENS = (
    # Llama-2 and Mistral instruction tokens; Mistral's control tokens without an underscore
    "INST", "SYS", "ARGS", "THINK", "IMG", "AUDIO",
    "PREFIX", "MIDDLE", "SUFFIX", "TRANSCRIBE", "REF",
)  # fmt: skip

_QUOTE_TAG_TEMPLATE = rf"{_OPEN}\s*{_SLASH}?\s*(?:{{names}}){_ATTRIBUTES}\s*{_SLASH}?\s*{_CLOSE}"

_CONTROL_TOKENS = [
    # `<|im_end|>`, `<|eot_id|>`, `<|system|>`, `<|vision_start|>`, DeepSeek's `<｜User｜>` (its
    # fullwidth bars fold to `|`): every family that wraps its specials in bars.
    re.compile(rf"{_OPEN}\s*\|[^<>\n]{{0,80}}?\|\s*{_CLOSE}"),
    # `<start_of_turn>`, `<tool_call>`, `</tool_response>`, `<image_soft_token>`: snake_case names
    # are the shape of special tokens (Gemma, Qwen's tool tags, StarCoder-style corpora).
    re.compile(
        rf"{_OPEN}\s*{_SLASH}?\s*(?:[a-z0-9]+(?:_[a-z0-9]+)+|{'|'.join(_NAMED_TOKENS)})"
        rf"{_ATTRIBUTES}\s*{_SLASH}?\s*{_CLOSE}",
        re.IGNORECASE,
    ),
    # Llama-2's `<<SYS>>` / `<</SYS>>`.
    re.compile(rf"{_OPEN}\s*{_OPEN}\s*{_SLASH}?\s*sys\s*{_CLOSE}\s*{_CLOSE}", re.IGNORECASE),
    # `[INST]`, `[/INST]`, `[THINK]` by name, in any case.
    re.compile(rf"\[\s*{_SLASH}?\s*(?:{'|'.join(_BRACKET_TOKENS)})\s*\]", re.IGNORECASE),
    # Mistral's `[TOOL_CALLS]`, `[AVAILABLE_TOOLS]`, `[SYSTEM_PROMPT]` (upper-case snake_case) and
    # any upper-case closing form `[/TOOL_RESULTS]`. Upper case only: `[Music]`, `[laughter]`
    # are a transcript's own notes.
    re.compile(
        rf"\[\s*(?:{_SLASH}\s*[A-Z][A-Z0-9_]*|[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)\s*\]",
    ),
]

_CHOSEN_LETTER = (
    r"(?=[\s*_`'\"“”‘’「」『』:]*(?:(?:option|choice|选项)\s*)?"
    r"[(\[]?(?:(?-i:[A-Z])(?![A-Za-z0-9])|[A-Za-z](?:[)\]]|$|[^\x00-\x7f]|[.:,;!?*/\-\u2013\u2014]"
    r"|\s+(?:$|[(\-\u2013\u2014:*]|(?:because|since|as|which|given|due|for|based)\b))))"
)
"""Lookahead: an option letter follows (`B`, `(c)`, `[A`, `option D`, `选项C`), as the lenient
ladder reads one: after quotes or emphasis, with or without its brackets, then the end, a
bracket, punctuation, a space or a non-ASCII character."""
_ANSWER_LABELS = re.compile(
    "|".join(
        [
            # `ANSWER: C`, `**Final answer**: C`, `Answer = C`, `Answer - C`, `answer is C`, in
            # any case and anywhere in a line; "answer-key" and "no answer. Is it" are not labels.
            # The ladders read a label across a line break ("ANSWER\n: B"), so a colon or an
            # equals sign may follow on the next line; a dash may not (a list item).
            r"(?:(?:final|correct|right|best|true|my)\s+)?answer"
            r"(?:[\s*_`]*(?:is|would\s+be|should\s+be|will\s+be|must\s+be)\b(?:\s*:)?"
            r"|(?:[^\w.?!,;:=]|_)*[:=]+"
            r"|(?:[^\w\n.?!,;:=]|_)*[-\u2013\u2014]+(?-i:(?![a-z])))",
            # "the correct option is C", "best choice: C", "choice = C"
            r"(?:(?:final|correct|right|best)\s+(?:option|choice)|\bchoice)"
            r"[\s*_`]*(?:(?:is|would\s+be|should\s+be|will\s+be)\b(?:\s*:)?|[:=]+)",
            # "I choose B", "I'd pick (C)", "I will go with option D"
            rf"\bi\s*(?:would\s+|will\s+|'ll\s+|'d\s+)?(?:choose|pick|select|go\s+with)\b{_CHOSEN_LETTER}",
            # 答案是C, 正确答案：C, 选项为C, 选B, 选择 C
            r"(?:正确|最终)?答案\s*(?:应该|应当|应)?\s*(?:是|为|[:=])(?!\s*(?:什么|多少|哪|谁|几))",
            r"选项\s*(?:应该|应)?\s*(?:是|为)",
            rf"选择?(?!项){_CHOSEN_LETTER}",
            # \boxed{C}
            r"\\boxed(?=\s*\{)",
        ]
    ),
    re.IGNORECASE,
)


_LINE_BREAK = re.compile(r"\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
"""What `str.splitlines` breaks at, besides a newline."""


@dataclass(frozen=True)
class _Folded:
    """The copy of a text that patterns are matched on, and where each of its characters came
    from in the original (`origin[i]`, with `origin[len(text)] == len(original)`)."""

    text: str
    origin: list[int]


@functools.cache
def _look_alikes() -> dict[str, str]:
    """Each non-ASCII character that Unicode's confusables table says looks like an ASCII
    character, to that character. A symbol that looks like `l` (`∣`, `￨`) is a bar to a
    reader of control tokens, so it folds to `|`."""
    from confusable_homoglyphs.confusables import confusables_data

    table: dict[str, str] = {}
    for char, glyphs in confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        # An ASCII look-alike, or one whose compatibility form is ASCII (`│` looks like `｜`,
        # which is a fullwidth `|`).
        candidates = [g["c"] for g in glyphs] + [
            unicodedata.normalize("NFKD", g["c"]) for g in glyphs
        ]
        ascii_glyphs = [c for c in candidates if c.isascii() and c.strip()]
        if ascii_glyphs:
            target = ascii_glyphs[0]
            symbol = unicodedata.category(char)[0] in "SP"
            table[char] = "|" if target == "l" and symbol else target
    return table


_INVISIBLE = frozenset({"Mn", "Me", "Cf"})
_TAG_CHARACTERS = range(0xE0020, 0xE007F)
"""Unicode tag characters: invisible, each the shadow of an ASCII character (`U+E0041` is `A`)."""


@functools.lru_cache(maxsize=8192)
def _fold_character(char: str) -> str:
    if ord(char) in _TAG_CHARACTERS:
        return chr(ord(char) - 0xE0000)
    folded = []
    for part in unicodedata.normalize("NFKD", char):
        if unicodedata.category(part) in _INVISIBLE:
            continue
        folded.append(part if part.isascii() else _look_alikes().get(part, part))
    return "".join(folded)


def _fold(text: str) -> _Folded:
    parts: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        folded = char if char.isascii() else _fold_character(char)
        parts.append(folded)
        origin.extend([index] * len(folded))
    origin.append(len(text))
    return _Folded("".join(parts), origin)


def _compatible(text: str) -> _Folded:
    """The text as the scorers read it (NFKC: `B` + `A` + a combining acute is `BÁ`), each
    character with its combining marks normalised together."""
    parts: list[str] = []
    origin: list[int] = []
    start = 0
    while start < len(text):
        end = start + 1
        while end < len(text) and unicodedata.combining(text[end]):
            end += 1
        normal = unicodedata.normalize("NFKC", text[start:end])
        parts.append(normal)
        origin.extend([start] * len(normal))
        start = end
    origin.append(len(text))
    return _Folded("".join(parts), origin)


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    note: str


def _spans(text: str, quote_tags: re.Pattern[str] | None) -> list[_Span]:
    """The spans of `text` to replace, in order, overlapping ones merged (a tag wins over a
    label: `<answer>:` is one tag)."""
    # Patterns match on the folded copy and on the text as it is: a reader of the original (the
    # lenient ladder reads `选A` before a Cyrillic `с`, where the folded copy has `选Ac`) must find
    # nothing that the folded copy hid.
    views = [_fold(text)]
    if not text.isascii():
        views += [_Folded(text, list(range(len(text) + 1))), _compatible(text)]
    found: list[_Span] = []

    def add(pattern: re.Pattern[str], note: str) -> None:
        for view in views:
            for match in pattern.finditer(view.text):
                start, end = match.span()
                if start == end:
                    continue
                # The span ends where the next folded character starts, so that the invisible
                # characters after a matched one (its combining marks) go with it.
                last = view.origin[end - 1] + 1
                found.append(_Span(view.origin[start], max(last, view.origin[end]), note))

    if quote_tags is not None:
        add(quote_tags, TAG_REMOVED)
    for pattern in _CONTROL_TOKENS:
        add(pattern, TAG_REMOVED)
    add(_ANSWER_LABELS, ANSWER_LABEL_REMOVED)
    merged: list[_Span] = []
    for span in sorted(found, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1].end:
            last = merged[-1]
            note = TAG_REMOVED if TAG_REMOVED in (last.note, span.note) else last.note
            merged[-1] = _Span(last.start, max(last.end, span.end), note)
        else:
            merged.append(span)
    return merged


@functools.lru_cache(maxsize=64)
def _quote_tag_pattern(names: tuple[str, ...]) -> re.Pattern[str] | None:
    if not names:
        return None
    spaced = ("\\s*".join(re.escape(letter) for letter in name) for name in names)
    return re.compile(_QUOTE_TAG_TEMPLATE.format(names="|".join(spaced)), re.IGNORECASE)


def neutralise(text: str, quote_tags: Iterable[str] = ()) -> str:
    """Untrusted text made harmless to quote: no quote tag, control token or answer label in it.

    Every kind of line break becomes a newline first, so that no line hides behind a carriage
    return or a Unicode line separator. Each quote tag (an opening or closing tag named by
    `quote_tags`, in any case or spacing, with attributes, as HTML entities, with look-alike or
    invisible characters) and each control token becomes `[tag removed]`; each answer label
    becomes `[answer label removed]`, the words after it kept. Everything else is kept as it was.
    The result is a fixed point: neutralising it again changes nothing.

    Args:
        text: the untrusted text.
        quote_tags: the names of the tags the prompt quotes untrusted text in (`caption`).

    Returns:
        The text with those spans replaced.
    """
    pattern = _quote_tag_pattern(tuple(sorted(set(quote_tags))))
    text = _LINE_BREAK.sub("\n", text)
    # A replacement can bring together what a span kept apart; repeat until nothing is found
    # (each round replaces at least one character by a note that matches nothing, so it ends).
    while spans := _spans(text, pattern):
        pieces, at = [], 0
        for span in spans:
            pieces += [text[at : span.start], span.note]
            at = span.end
        text = "".join([*pieces, text[at:]])
    return text
