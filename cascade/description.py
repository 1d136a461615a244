"""Compose an item's front-end outputs into one description, each part labelled by source.

Transcripts are quoted inside <transcript> tags (tag-like text in them neutralised), so that words
spoken in the audio cannot pose as instructions or close the quote early.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from cascade.prompts import PromptTemplate
from cascade.records import StageKind, StageOutput

KIND_LABELS: dict[StageKind, str] = {
    "asr": "Speech transcript",
    "caption": "Audio caption",
    "tags": "Sound and music tags",
    "signal": "Signal measurements",
}
NO_DESCRIPTION = (
    "(none: no audio analysis tool was run on this clip, so answer from the question and the "
    "choices alone)"
)
"""The description of a run without front-end stages (the text-only prior)."""

_TAG_LIKE = re.compile(r"</?\s*transcript\s*>", re.IGNORECASE)


def quote_transcript(text: str) -> str:
    """The transcript inside <transcript> tags, with tag-like text in it made harmless."""
    return f"<transcript>\n{_TAG_LIKE.sub('[tag removed]', text.strip())}\n</transcript>"


def section(output: StageOutput) -> str:
    """One labelled part of the description."""
    label = f"{KIND_LABELS[output.kind]} (from {output.stage}"
    language = output.data.get("language") if output.kind == "asr" else None
    label += f", language: {language})" if language else ")"
    body = output.text.strip() or "(nothing detected)"
    if output.kind == "asr":
        body = quote_transcript(output.text) if output.text.strip() else "(no speech recognised)"
    return f"{label}:\n{body}"


def compose(outputs: Sequence[StageOutput], template: PromptTemplate) -> str:
    """The description of one item from its (successful) stage outputs, in stage order."""
    failed = [o for o in outputs if not o.ok]
    if failed:
        raise ValueError(f"cannot compose a description with failed stages: {failed}")
    sections = "\n\n".join(section(o) for o in outputs) or NO_DESCRIPTION
    return template.render_text(sections=sections)
