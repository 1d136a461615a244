"""Compose an item's front-end outputs into one description, each part labelled by source.

Every front-end text (transcript, caption, tags, measurements) is quoted inside a tag of its kind
(`<transcript>`, `<caption>`, `<tags>`, `<measurements>`) and neutralised first, so that text a
tool produced (words spoken in the clip, a caption model's free text) cannot pose as instructions
or as the answer: tag-like text naming any of those tags (in any case or spacing, with look-alike
characters or as HTML entities), chat-template control tokens (`<|im_end|>`, `</s>`) and lines the
answer extractor would read as the answer line (`ANSWER: A`) are replaced by a bracketed note.
The answering prompts tell the model what the quoted blocks are.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from cascade.core import PromptTemplate, StageKind, StageOutput

KIND_LABELS: dict[StageKind, str] = {
    "asr": "Speech transcript",
    "caption": "Audio caption",
    "tags": "Sound and music tags",
    "signal": "Signal measurements",
}
QUOTE_TAGS: dict[StageKind, str] = {
    "asr": "transcript",
    "caption": "caption",
    "tags": "tags",
    "signal": "measurements",
}
"""The tag each kind of front-end text is quoted in."""
EMPTY_BODIES: dict[StageKind, str] = {
    "asr": "(no speech recognised)",
    "caption": "(nothing detected)",
    "tags": "(nothing detected)",
    "signal": "(nothing detected)",
}
NO_DESCRIPTION = (
    "(none: no audio analysis tool was run on this clip, so answer from the question and the "
    "choices alone)"
)
"""The description of a run without front-end stages (the text-only prior)."""

TAG_REMOVED = "[tag removed]"
ANSWER_LABEL_REMOVED = "[answer label removed]"

_GAP = r"[\s\u200b-\u200f\u2060\ufeff]*"
"""Spaces, including zero-width ones, that a reader (or a model) would look past."""
_OPEN = r"(?:<|&lt;?|&#0*60;?|&#x0*3c;?)"
_CLOSE = r"(?:>|&gt;?|&#0*62;?|&#x0*3e;?)"
_SLASH = r"[/\\]"


def _spaced(word: str) -> str:
    """`word` with any spacing between its letters (`trans cript`)."""
    return _GAP.join(re.escape(letter) for letter in word)


_BLOCK_TAG = re.compile(
    rf"{_OPEN}{_GAP}{_SLASH}?{_GAP}(?:{'|'.join(_spaced(t) for t in QUOTE_TAGS.values())})"
    rf"(?:\s[^<>\n]*)?{_GAP}{_SLASH}?{_GAP}{_CLOSE}",
    re.IGNORECASE,
)
"""An opening or closing tag of any quote block (spaced, with attributes, or as HTML entities)."""
_CONTROL_TOKEN = re.compile(
    rf"{_OPEN}{_GAP}(?:\|[^<>\n]{{0,60}}?\||{_SLASH}?{_GAP}s){_GAP}{_CLOSE}", re.IGNORECASE
)
"""Chat-template control tokens (`<|im_end|>`, `<s>`, `</s>`): a tokenizer that parses special
tokens in text would end the user's turn there."""
_ANSWER_LABEL = re.compile(
    r"^(?P<lead>(?:[^\w\n]|_)*)(?:final\s+)?answer(?:[^\w\n:]|_)*:",
    re.IGNORECASE | re.MULTILINE,
)
"""A line that starts like the answer line the prompts ask for (`ANSWER: A`, `**Final answer**:`);
it covers every line the strict extractor reads."""


def _defuse(text: str) -> tuple[str, bool]:
    """`text` with quote tags, control tokens and answer labels replaced; whether any was."""
    text, tags = _BLOCK_TAG.subn(TAG_REMOVED, text)
    text, tokens = _CONTROL_TOKEN.subn(TAG_REMOVED, text)
    text, labels = _ANSWER_LABEL.subn(lambda m: f"{m['lead']}{ANSWER_LABEL_REMOVED}", text)
    return text, bool(tags or tokens or labels)


def neutralise(text: str) -> str:
    """Front-end text made harmless to quote: no quote tag, control token or answer line in it.

    Every kind of line break becomes a newline first, so that no answer line hides behind a
    carriage return or a Unicode line separator. Look-alike characters (fullwidth brackets,
    letters or colons) are caught by checking the text's NFKC form, the form the answer
    extractor reads; text that needs it is quoted in that form.
    """
    text, _ = _defuse("\n".join(text.splitlines()))
    folded, found = _defuse(unicodedata.normalize("NFKC", text))
    return folded if found else text


def quote(text: str, kind: StageKind) -> str:
    """Front-end text inside its kind's tags, neutralised."""
    tag = QUOTE_TAGS[kind]
    return f"<{tag}>\n{neutralise(text.strip())}\n</{tag}>"


def section(output: StageOutput) -> str:
    """One labelled part of the description."""
    label = f"{KIND_LABELS[output.kind]} (from {output.stage}"
    language = output.data.get("language") if output.kind == "asr" else None
    label += f", language: {language})" if language else ")"
    text = output.text.strip()
    body = quote(text, output.kind) if text else EMPTY_BODIES[output.kind]
    return f"{label}:\n{body}"


def compose(outputs: Sequence[StageOutput], template: PromptTemplate) -> str:
    """The description of one item from its (successful) stage outputs, in stage order."""
    failed = [o for o in outputs if not o.ok]
    if failed:
        raise ValueError(f"cannot compose a description with failed stages: {failed}")
    sections = "\n\n".join(section(o) for o in outputs) or NO_DESCRIPTION
    return template.render_text(sections=sections)
