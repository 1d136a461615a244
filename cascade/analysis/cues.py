"""Cue coverage: which of an item's annotated audio cues (MMAR `cue`) its description conveys.

Two measures, never mixed:

- `lexical` (always available, deterministic): the share of a cue's content words found in a
  text. Tokenisation: the text is NFKC-normalised and case-folded; a word is a maximal run of
  letters and digits (so `1 kHz` gives `1` and `khz`, `speaker's` gives `speaker` and `s`); a
  plural `-s`/`-es`/`-ies` ending is stripped from words longer than three letters (`beeps` ->
  `beep`, `melodies` -> `melody`, not `bass`, `bus`, `this`). A cue's content words are its
  words minus the stop-words below, each counted once. A text covers a cue when at least
  `THRESHOLD` (half) of the content words occur in it; a cue of stop-words only cannot be
  measured (its verdict is unknown).
- `judge` (a reasoner preset): one call per item and description part, listing every cue and
  asking for a `CUE n: yes|no` line each. A reply that cannot be read leaves those verdicts
  unknown (recorded with the reason, never guessed); a failed call likewise.

A description composed from front-end stages is split back into its labelled, tag-quoted parts
(`cascade.run.description`), one per stage; each part is measured on its own. A cue is covered
when some part covers it, and the stages whose part covers it are recorded; a description
without stage parts (an oracle or a text-only run) is one part, `description`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cascade.core import Cache, ChatRequest, Item, PromptTemplate, Reasoner, neutralise
from cascade.run import KIND_LABELS, QUOTE_TAGS, Answerer, Counts, answer

LEXICAL = "lexical"


def judge_measure(preset: str) -> str:
    """The name of the cue coverage measured by the reasoner preset `preset` as judge."""
    return "judge-" + preset


JUDGE_PROMPT = "judge_cues"
JUDGE_QUOTE_TAG = "text"
"""The tag the judge prompt quotes a stage's text in (neutralised in that text)."""
THRESHOLD = 0.5
"""A part covers a cue (lexical) when at least this share of the cue's content words occur in it."""
WHOLE = "description"
"""The part name of a description that has no stage parts."""

_STOP_WORDS = """
a an the and or nor but if then than so as of at by for from in into on onto to with without
within over under about above below between through during before after up down out off
is are was were be been being am has have had do does did can could will would shall should
may might must this that these those it its they them their there here which who whom
whose what when where why how not no yes all any both each either neither few more most other
some such only own same too very just also s t
i me my we us our you your he him his she her
"""
STOP_WORDS = frozenset(_STOP_WORDS.split())
"""Function words that carry no cue content (a short, fixed list: changing it changes the
measure, so it is part of the measure's definition)."""

_WORD = re.compile(r"[^\W_]+")
_POINT = re.compile(
    r"^[\s>*_#-]*CUE\s*#?\s*(\d+)\s*[*_]*\s*[:=\-]\s*[*_]*\s*([A-Za-z]+)",
    re.IGNORECASE | re.MULTILINE,
)
_SECTION = re.compile(
    rf"^(?:{'|'.join(re.escape(label) for label in KIND_LABELS.values())}) "
    r"\(from (?P<stage>[^,()\n]+)(?:, language: [^()\n]*)?\):\n"
    rf"(?:<(?P<tag>{'|'.join(QUOTE_TAGS.values())})>\n(?P<body>.*?)\n</(?P=tag)>"
    r"|(?P<empty>\([^\n]*\)))",
    re.MULTILINE | re.DOTALL,
)
"""One labelled part of a composed description (`description.section`); quoted text cannot
contain a quote tag (it is neutralised), so the first closing tag ends the part."""


def _normalise(word: str) -> str:
    if len(word) > 3 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def words(text: str) -> list[str]:
    """The normalised words of a text, in order (see the module docstring)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return [_normalise(w) for w in _WORD.findall(folded)]


def content_words(cue: str) -> tuple[str, ...]:
    """The cue's words without stop-words, each once, in order."""
    seen: dict[str, None] = {}
    for word in words(cue):
        if word not in STOP_WORDS:
            seen.setdefault(word)
    return tuple(seen)


def lexical_share(cue: str, text: str) -> float | None:
    """The share of the cue's content words that occur in `text`; None when it has none."""
    wanted = content_words(cue)
    if not wanted:
        return None
    present = set(words(text))
    return sum(w in present for w in wanted) / len(wanted)


def cues_of(item: Item) -> list[str]:
    """The item's annotated cues (MMAR meta `cue`: a list of strings; empty when none)."""
    raw = item.meta.get("cue")
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        return []
    return [str(c).strip() for c in raw if str(c).strip()]


@dataclass(frozen=True)
class Part:
    """The text one front-end stage contributed to a description."""

    stage: str
    text: str


def parts(description: str) -> list[Part]:
    """The description split back into its stage parts (the whole text when it has none)."""
    found = [
        Part(m["stage"].strip(), m["body"] if m["body"] is not None else "")
        for m in _SECTION.finditer(description)
    ]
    return found or [Part(WHOLE, description)]


@dataclass
class CueVerdict:
    cue: str
    covered: bool | None
    """None: unknown (no content words, or the judge could not tell)."""
    stages: list[str] = field(default_factory=list)
    """The stages whose text covers the cue."""
    share: float | None = None
    """Lexical: the highest share of content words found in one part."""
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "cue": self.cue,
            "covered": self.covered,
            "stages": self.stages,
            "share": self.share,
            "problem": self.problem,
        }


@dataclass
class ItemCoverage:
    id: str
    modality: str
    category: str
    status: str
    """`measured`, `no-cues` (no annotation), `no-description` (the run has none: it failed
    before answering) or `unknown` (some verdict could not be had: see the cues' problems)."""
    cues: list[CueVerdict] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    """The description's parts (stage labels, or `description`)."""
    judge_calls: list[dict[str, Any]] = field(default_factory=list)

    @property
    def covered(self) -> list[str]:
        return [v.cue for v in self.cues if v.covered]

    @property
    def coverage(self) -> float | None:
        """Covered cues over annotated cues, when every verdict is known."""
        if self.status != "measured":
            return None
        return len(self.covered) / len(self.cues)

    @property
    def level(self) -> str | None:
        """`all`, `some` or `none` of the cues covered (None when coverage is unknown)."""
        coverage = self.coverage
        if coverage is None:
            return None
        return "all" if coverage == 1 else "none" if coverage == 0 else "some"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "modality": self.modality,
            "category": self.category,
            "status": self.status,
            "stages": self.stages,
            "cues": [v.to_json() for v in self.cues],
            "covered": self.covered,
            "coverage": self.coverage,
            "level": self.level,
            "judge_calls": self.judge_calls,
        }


def _item(item: Item, status: str, description: str | None = None) -> ItemCoverage:
    stages = [p.stage for p in parts(description)] if description is not None else []
    return ItemCoverage(item.id, item.modality, item.category, status, stages=stages)


def _settle(coverage: ItemCoverage) -> ItemCoverage:
    if coverage.status == "measured" and any(v.covered is None for v in coverage.cues):
        coverage.status = "unknown"
    return coverage


def lexical_item(item: Item, description: str | None) -> ItemCoverage:
    """The lexical coverage of one item's description."""
    cues = cues_of(item)
    if not cues:
        return _item(item, "no-cues", description)
    if description is None:
        return _item(item, "no-description")
    coverage = _item(item, "measured", description)
    split = parts(description)
    for cue in cues:
        shares = [(p.stage, lexical_share(cue, p.text)) for p in split]
        known = [s for _, s in shares if s is not None]
        if not known:
            coverage.cues.append(CueVerdict(cue, None, problem="no content words"))
            continue
        stages = [stage for stage, s in shares if s is not None and s >= THRESHOLD]
        coverage.cues.append(CueVerdict(cue, bool(stages), stages, share=max(known)))
    return _settle(coverage)


def judge_request(
    item: Item, part: Part, cues: Sequence[str], template: PromptTemplate
) -> ChatRequest:
    """The judge call for one part of an item's description, listing every cue."""
    values = {
        "question": item.question,
        "text": neutralise(part.text.strip(), [JUDGE_QUOTE_TAG]) or "(empty)",
        "cues": "\n".join(f"{n}. {cue}" for n, cue in enumerate(cues, start=1)),
        "count": str(len(cues)),
    }
    messages = template.render(**{k: values[k] for k in template.placeholders})
    return ChatRequest(item_id=item.id, messages=messages)


@dataclass(frozen=True)
class Verdicts:
    """One judge reply read: yes/no per cue, or why it could not be read."""

    covered: tuple[bool, ...] | None
    problem: str | None = None


def parse_verdicts(text: str, count: int) -> Verdicts:
    """The judge's `CUE n: yes|no` lines (the last line per cue wins), checked: every cue
    present, no other cue, every verdict `yes` or `no`."""
    found: dict[int, str] = {}
    for match in _POINT.finditer(text):
        found[int(match.group(1))] = match.group(2).lower()
    if not found:
        return Verdicts(None, "no `CUE n: yes|no` lines")
    extra = sorted(n for n in found if not 1 <= n <= count)
    if extra:
        return Verdicts(None, f"cue(s) {extra} are not among the {count} cues")
    missing = [n for n in range(1, count + 1) if n not in found]
    if missing:
        return Verdicts(None, f"no verdict for cue(s) {missing}")
    bad = {n: v for n, v in found.items() if v not in ("yes", "no")}
    if bad:
        return Verdicts(None, f"verdict(s) {bad} are not yes or no")
    return Verdicts(tuple(found[n] == "yes" for n in range(1, count + 1)))


def judge_items(
    items: Sequence[Item],
    descriptions: Mapping[str, str | None],
    reasoner: Reasoner,
    template: PromptTemplate,
    cache: Cache,
    *,
    batch_size: int = 16,
    counts: Counts | None = None,
    answerer: Answerer = answer,
) -> list[ItemCoverage]:
    """The judge's coverage of every item in `descriptions` (one call per item and part)."""
    counts = counts or Counts()
    measured: list[ItemCoverage] = []
    todo: list[tuple[Item, Part, ItemCoverage]] = []
    for item in items:
        if item.id not in descriptions:
            continue
        description = descriptions[item.id]
        cues = cues_of(item)
        if not cues:
            measured.append(_item(item, "no-cues", description))
        elif description is None:
            measured.append(_item(item, "no-description"))
        else:
            coverage = _item(item, "measured", description)
            coverage.cues = [CueVerdict(cue, False) for cue in cues]
            measured.append(coverage)
            todo += [(item, part, coverage) for part in parts(description)]
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        requests = [judge_request(i, p, cues_of(i), template) for i, p, _ in batch]
        records = answerer(requests, reasoner, cache, counts)
        for (_, part, coverage), record in zip(batch, records, strict=True):
            response = record.response
            call: dict[str, Any] = {
                "stage": part.stage,
                "key": record.key,
                "cached": record.cached,
                "text": response.text,
            }
            if not response.ok:
                call["error"] = response.error
                verdicts = Verdicts(None, f"judge call failed: {response.error}")
            else:
                verdicts = parse_verdicts(response.text, len(coverage.cues))
            call["problem"] = verdicts.problem
            coverage.judge_calls.append(call)
            for index, verdict in enumerate(coverage.cues):
                if verdicts.covered is None:
                    if not verdict.covered:
                        verdict.covered, verdict.problem = None, f"{part.stage}: {verdicts.problem}"
                elif verdicts.covered[index]:
                    verdict.covered, verdict.problem = True, None
                    verdict.stages.append(part.stage)
    return [_settle(c) for c in measured]


def lexical_items(
    items: Sequence[Item], descriptions: Mapping[str, str | None]
) -> list[ItemCoverage]:
    """The lexical coverage of every item in `descriptions`."""
    return [lexical_item(i, descriptions[i.id]) for i in items if i.id in descriptions]
