"""MMAR-Rubrics, the pure part: the gate, the judge request, reading a reply, scores and totals.

The specification is MMAR's `code/evaluation_rubrics.py` (protocol in
`cascade/core/benchmarks/mmar/rubrics_protocol.yaml`, which also holds the request's text).
Every rule here is the script's, checked against its own output by tests/test_rubrics.py on the
goldens of scripts/make_rubrics_golden.py:

- the gate: an answer that is wrong by the official token-set rule scores 0, no judge is asked;
- the request: the official system prompt and the user prompt as the script assembles it;
- a reply is read as the script's `validate_and_score` reads it: the JSON list cut from the text
  (the widest `[ {...} ]`), one entry per rubric point, each with `name` and a numeric `score`
  among the point's choices (Python's `in`: `1.0` and `true` count as 1); a different name only
  warns; the rater's score is the sum of scores over the sum of each point's highest choice;
- the item's score is the mean of the middle three of the five raters' scores;
- totals: score and accuracy x100 over the evaluated items, overall and by modality, category and
  sub-category (a record without `sub-category` is grouped under None).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from string import Template
from typing import Any

import yaml

from cascade.core import benchmark_by_name

REQUIRED_KEYS = (
    "id",
    "question",
    "answer",
    "thinking",
    "cue",
    "choices",
    "rubric",
    "thinking_prediction",
    "answer_prediction",
    "modality",
    "category",
)
"""The keys every record must have, as the official script requires them (else it is skipped)."""

GROUPS = (("modality", "modality"), ("category", "category"), ("sub-category", "sub-category"))
"""(record key, table name) of the groups the totals are given by."""

_JSON_LIST = re.compile(r"\[\s*\{.*\}\s*\]", re.DOTALL)


@dataclass(frozen=True)
class Protocol:
    """The benchmark's protocol file: the judge model, decoding, raters, attempts and texts."""

    source: str
    model: str
    temperature: float
    seed: int
    raters: int
    attempts: int
    length_limit: int
    system: str
    criterion: str
    point: str
    user: str


@cache
def protocol() -> Protocol:
    """MMAR-Rubrics as shipped beside the MMAR benchmark (`rubrics_protocol.yaml`)."""
    path = benchmark_by_name("mmar").data_file("rubrics_protocol.yaml")
    return Protocol(**yaml.safe_load(path.read_text(encoding="utf-8")))


def clean(text: str) -> str:
    """The official clean-up: strip the text, and the leading whitespace of every line (lines as
    Python's `splitlines` cuts them, so a form feed or a line separator ends a line too)."""
    return "\n".join(line.lstrip() for line in text.strip().splitlines())


def _fill(template: str, **values: Any) -> str:
    return clean(Template(template).substitute({k: f"{v}" for k, v in values.items()}))


def user_prompt(record: Mapping[str, Any], spec: Protocol | None = None) -> str:
    """The judge's user prompt for one record (with every key of REQUIRED_KEYS)."""
    spec = spec or protocol()
    rubric = list(record["rubric"])
    criteria = [
        _fill(
            spec.criterion, name=p["name"], scoring_point=p["scoring_point"], choices=p["choices"]
        )
        for p in rubric
    ]
    points = [
        _fill(
            spec.point,
            name=p["name"],
            choices=p["choices"],
            comma="," if n < len(rubric) - 1 else "",
        )
        for n, p in enumerate(rubric)
    ]
    return _fill(
        spec.user,
        question=record["question"],
        answer=record["answer"],
        thinking=record["thinking"],
        rubric="\n".join(criteria),
        points="\n".join(points),
        thinking_prediction=record["thinking_prediction"],
        answer_prediction=record["answer_prediction"],
    )


def messages(record: Mapping[str, Any], spec: Protocol | None = None) -> list[dict[str, str]]:
    """The chat messages of the judge request: the official system prompt and the user prompt."""
    spec = spec or protocol()
    return [
        {"role": "system", "content": spec.system},
        {"role": "user", "content": user_prompt(record, spec)},
    ]


def passes_gate(record: Mapping[str, Any]) -> bool:
    """Whether the answer is right by the official token-set rule (only then is a judge asked)."""
    return benchmark_by_name("mmar").official_match(
        record["answer"], record["answer_prediction"], record["choices"]
    )


def missing_keys(record: Mapping[str, Any]) -> list[str]:
    """The required keys a record lacks (the official script skips such a record)."""
    return [k for k in REQUIRED_KEYS if k not in record]


class InvalidReply(ValueError):
    """A judge reply the protocol refuses; the attempt is spent and the rater asks again."""


@dataclass(frozen=True)
class Reading:
    """One valid reply read: the rater's score (a fraction), per-point scores and notes."""

    score: float
    points: tuple[Any, ...]
    justifications: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def read_reply(text: str, rubric: Sequence[Mapping[str, Any]]) -> Reading:
    """Read one judge reply against the item's rubric, as the official script does.

    Raises:
        InvalidReply: the reply is not a JSON list of one entry per point, an entry lacks `name`
            or `score`, or a score is not a number among the point's choices.
    """
    found = _JSON_LIST.search(text)
    content = found.group(0) if found else text
    try:
        entries = json.loads(content)
    except json.JSONDecodeError as error:
        raise InvalidReply(f"not valid JSON ({error.msg})") from None
    if not isinstance(entries, list):
        raise InvalidReply("not a JSON list")
    if len(entries) != len(rubric):
        raise InvalidReply(f"{len(entries)} entries for {len(rubric)} rubric points")
    total: Any = 0
    best: Any = 0
    warnings = []
    for number, (entry, point) in enumerate(zip(entries, rubric, strict=True)):
        if not isinstance(entry, dict) or "name" not in entry or "score" not in entry:
            raise InvalidReply(f"entry {number} lacks `name` or `score`")
        if entry["name"] != point["name"]:
            warnings.append(f"entry {number} is named {entry['name']!r}, not {point['name']!r}")
        score, choices = entry["score"], point["choices"]
        if not isinstance(score, int | float):
            raise InvalidReply(f"score of {point['name']!r} is {type(score).__name__}")
        if score not in choices:
            raise InvalidReply(f"score {score} of {point['name']!r} is not one of {choices}")
        total += score
        best += max(choices)
    justifications = tuple(str(e.get("justification", "")) for e in entries)
    points = tuple(e["score"] for e in entries)
    return Reading(0.0 if best == 0 else total / best, points, justifications, tuple(warnings))


def trimmed_mean(scores: Sequence[float]) -> float:
    """The item's score: the mean of the raters' scores without the lowest and the highest."""
    ordered = sorted(scores)
    kept = ordered[1:-1] if len(ordered) >= 3 else ordered
    return sum(kept) / len(kept)


@dataclass
class Tally:
    """Evaluated items of one group: how many, how many right, the sum of their scores."""

    total: int = 0
    correct: int = 0
    score_sum: float = 0.0
    scores: list[float] = field(default_factory=list)

    def add(self, score: float, correct: bool) -> None:
        self.total += 1
        self.correct += int(correct)
        self.score_sum += score
        self.scores.append(score)

    @property
    def score(self) -> float:
        """Mean score x100, as the script prints it (0 for an empty group)."""
        return self.score_sum / self.total * 100 if self.total else 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.total * 100 if self.total else 0.0


@dataclass(frozen=True)
class Totals:
    overall: Tally
    groups: dict[str, dict[str | None, Tally]]
    """Table name (`modality`, `category`, `sub-category`) -> group value -> tally."""
    no_prediction: int
    """The official script's "No prediction count": records read minus items evaluated."""


def totals(evaluated: Iterable[Mapping[str, Any]], records_read: int) -> Totals:
    """The totals over evaluated output lines (each with `score`, `correct` and the groups)."""
    overall = Tally()
    groups: dict[str, dict[str | None, Tally]] = {name: {} for _, name in GROUPS}
    for line in evaluated:
        overall.add(line["score"], line["correct"])
        for key, name in GROUPS:
            groups[name].setdefault(line.get(key), Tally()).add(line["score"], line["correct"])
    return Totals(overall, groups, records_read - overall.total)
