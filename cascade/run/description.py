"""Compose an item's front-end outputs into one description, each part labelled by source.

Every front-end text (transcript, caption, tags, measurements) is quoted inside a tag of its kind
(`<transcript>`, `<caption>`, `<tags>`, `<measurements>`) and neutralised first
(`cascade.core.neutralise`), so that text a tool produced (words spoken in the clip, a caption
model's free text) cannot pose as instructions or as the answer: tags naming any of those blocks,
chat control tokens and answer labels are replaced by a bracketed note. The answering prompts tell
the model what the quoted blocks are.
"""

from __future__ import annotations

from collections.abc import Sequence

from cascade.core import PromptTemplate, StageKind, StageOutput, neutralise

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


def quote(text: str, kind: StageKind) -> str:
    """Front-end text inside its kind's tags, neutralised (no stage can close or open any
    stage's quote)."""
    tag = QUOTE_TAGS[kind]
    return f"<{tag}>\n{neutralise(text.strip(), QUOTE_TAGS.values())}\n</{tag}>"


def section(output: StageOutput) -> str:
    """One labelled part of the description."""
    label = f"{KIND_LABELS[output.kind]} (from {output.stage}"
    language = output.data.get("language") if output.kind == "asr" else None
    if language:
        # The language is the ASR model's output too: neutralised, and kept on the label's line.
        language = " ".join(neutralise(str(language), QUOTE_TAGS.values()).split())
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
