"""The table of scorers: a row per scorer, saying how it reads an answer and what is INVALID.

Every part of cascade that names, validates, computes or shows a scorer reads this table: the
per-item verdicts (cascade.scoring.rules), metrics.json, repeated samples, the report's tables
and pages, sweep tables, comparisons, and the options that name a scorer. cascade's rows are
below, each registered by one line in `cascade/core/registry.py`'s `SCORERS`; a package adds a
row by an entry point in the group `cascade.scorers` naming a `Scorer` (the name it is
registered under must be the row's `name`). The table's order is cascade's rows, then the
packages' in the order they are read; it is the order of every table and column.

A row reads an answer in one of two ways. A scorer with an extraction ladder (`read`) reads one
option from the answer text and is right when that option's text is the item's answer (`judge`
may say otherwise); its reading is stored with the item (`extractions` in results.jsonl) and its
INVALID answers are counted in metrics.json (`invalid`, `invalid_rate`). A scorer without one
judges `answer_prediction`, the official-format text (`official`: the rule of the item's
benchmark), and borrows the INVALID of another row's reading (`invalid_when`).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cascade.core import OfficialRule, RegistryError, registry
from cascade.scoring.extraction import Extraction, extract_lenient, extract_strict

Ladder = Callable[[str, Sequence[str]], Extraction]
"""An extraction ladder: (answer text, the item's options) -> the option it reads, or INVALID."""


@dataclass(frozen=True)
class Answer:
    """What a scorer's verdict on one answered item may look at."""

    answer: str
    """The item's correct option text."""
    choices: Sequence[str]
    prediction: str
    """`answer_prediction`: the text written in the official format (cascade.scoring.rules)."""
    extraction: Extraction | None
    """The scorer's own reading (INVALID for a truncated answer); None without a ladder."""
    official: OfficialRule
    """The official rule of the item's benchmark."""


def chose_answer(answer: Answer) -> bool:
    """The option the scorer's ladder read is the answer (texts, not positions: options can
    repeat)."""
    chosen = answer.extraction
    return (
        chosen is not None
        and chosen.index is not None
        and answer.choices[chosen.index] == answer.answer
    )


def official_rule(answer: Answer) -> bool:
    """The item's benchmark's own rule on the official-format prediction."""
    return answer.official(answer.answer, answer.prediction, answer.choices)


@dataclass(frozen=True)
class Scorer:
    """One row of the table of scorers."""

    name: str
    """Its name: a column of every table, a key of metrics.json, a value of `--scorer`."""
    description: str
    """How it reads an answer, in one line (the README's Scoring section says it at length)."""
    invalid_when: str
    """The reading whose INVALID makes an answer INVALID under this scorer: the name of a row with
    a ladder (its own name when it has one)."""
    read: Ladder | None = None
    """Its extraction ladder; None for a scorer that judges the official-format prediction."""
    judge: Callable[[Answer], bool] = chose_answer
    """Whether the answer counts as correct (never for an item without an answer)."""


OFFICIAL = Scorer(
    "official",
    "the item's benchmark's own rule (MMAR, MMAU: the token-set match) on answer_prediction",
    invalid_when="lenient",
    judge=official_rule,
)
STRICT = Scorer(
    "strict",
    "only the answer line the prompt asks for (ANSWER: B or ANSWER: <option text>), the last",
    invalid_when="strict",
    read=extract_strict,
)
LENIENT = Scorer(
    "lenient",
    "strict, then a ladder of common forms ((B), **B**, 'the answer is B', a unique option text)",
    invalid_when="lenient",
    read=extract_lenient,
)

PRIMARY = STRICT.name
"""The scorer of the paired figures, flips and attribution unless another is chosen."""
PREDICTION_READING = LENIENT.name
"""The reading whose option is written as `answer_prediction` and is a sample's vote."""


def scorers() -> tuple[Scorer, ...]:
    """The table, in its order (cascade's rows, then the packages').

    Raises:
        RegistryError: a package's entry that is not a `Scorer`, is registered under another
            name than its row's, or borrows the INVALID of a row that reads no option.
    """
    rows = tuple(_row(name) for name in registry.ordered("scorer"))
    readings = {row.name for row in rows if row.read is not None}
    for row in rows:
        if row.invalid_when not in readings:
            raise RegistryError(
                f"scorer {row.name!r} ({registry.entry('scorer', row.name).label}) counts an "
                f"answer INVALID by the reading of {row.invalid_when!r}, which is no scorer with "
                f"an extraction ladder; choose one of {', '.join(sorted(readings))}"
            )
    return rows


def _row(name: str) -> Scorer:
    found = registry.resolve("scorer", name)
    label = registry.entry("scorer", name).label
    if not isinstance(found, Scorer):
        raise RegistryError(
            f"scorer {name!r} is registered as {label}, which is not a cascade.scoring.Scorer "
            f"(it is {type(found).__name__}): correct that entry point"
        )
    if found.name != name:
        raise RegistryError(
            f"scorer {name!r} is registered as {label}, whose row is named {found.name!r}: the "
            "name in the entry point and the row's name must be the same"
        )
    return found


def scorer_names() -> tuple[str, ...]:
    """The scorers' names, in the table's order."""
    return tuple(row.name for row in scorers())


def readings() -> tuple[str, ...]:
    """The scorers that read an option themselves (a ladder), in the table's order: the keys of
    an item's `extractions` and of metrics.json's `invalid` and `invalid_rate`."""
    return tuple(row.name for row in scorers() if row.read is not None)


def scorer_named(name: str) -> Scorer:
    """The row named `name`.

    Raises:
        RegistryError: no such scorer (naming the closest and every scorer of the table).
    """
    rows = {row.name: row for row in scorers()}
    if name in rows:
        return rows[name]
    close = difflib.get_close_matches(name, rows, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise RegistryError(f"unknown scorer {name!r}.{hint} Choose one of {', '.join(rows)}.")


def invalid_sentence() -> str:
    """Which reading's invalid rate goes beside each scorer, as a sentence for a table's legend:
    "the strict extraction's rate for `strict`, the lenient one's for `official` and `lenient`"."""
    rows = scorers()
    parts: list[str] = []
    for reading in readings():
        names = [f"`{row.name}`" for row in rows if row.invalid_when == reading]
        if not names:
            continue
        which = f"the {reading} one's" if parts else f"the {reading} extraction's rate"
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        parts.append(f"{which} for {listed}")
    return ", ".join(parts)
