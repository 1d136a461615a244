"""Why each wrong answer was wrong, from cue coverage, and whether coverage predicts correctness.

A wrong item (by the `strict` scorer unless another is chosen) is attributed to:
- `perception`: a cue the answer needs is missing from the description;
- `reasoning`: every annotated cue is in the description, yet the answer is wrong;
- `unknown`: the item has no cue annotation, or some cue's verdict is unknown (a judge reply
  that could not be read) and none is known to be missing;
- `failed`: the run has no answer for the item (an error; counted wrong everywhere).
With an oracle run on the same items (a run whose description is the benchmark's annotations),
each wrong item also gets the oracle's verdict: `front-end loss` when the oracle run answered it
right (the information was lost in the front-end), `wrong with oracle` otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cascade.analysis.cues import ItemCoverage
from cascade.scoring import PRIMARY, independence_test, mean_interval, wilson_interval

SCORER = PRIMARY
"""The scorer whose verdicts attribution and conditioned accuracy use by default."""
CAUSES = ("perception", "reasoning", "unknown", "failed")
LEVELS = ("all", "some", "none")
FRONT_END_LOSS = "front-end loss"
WRONG_WITH_ORACLE = "wrong with oracle"

PUBLISHED = {"perception": 0.37, "reasoning": 0.20}
"""The MMAR paper's error analysis (wrong answers labelled by hand), the shares known here."""
PUBLISHED_NOTE = (
    "MMAR paper, error analysis of wrong answers labelled by hand: perceptual errors 37%, "
    "reasoning errors 20%. The paper's other categories are not reproduced here (their figures "
    "were not available when this table was written), so the published shares shown do not sum "
    "to 100%; its categories are judged by people reading the model's reasoning, these by cue "
    "coverage of the description, so the two are comparable in kind, not by definition."
)


@dataclass(frozen=True)
class Attributed:
    id: str
    modality: str
    category: str
    correct: bool
    cause: str | None
    """One of CAUSES for a wrong item; None for a right one."""
    reason: str
    oracle: str | None = None
    """FRONT_END_LOSS or WRONG_WITH_ORACLE for a wrong item the oracle run answered; else None."""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "correct": self.correct,
            "cause": self.cause,
            "reason": self.reason,
            "oracle": self.oracle,
        }


def cause_of(coverage: ItemCoverage, answered: bool) -> tuple[str, str]:
    """The cause of one wrong answer and the reason in words."""
    if not answered or coverage.status == "no-description":
        return "failed", "the run has no answer for this item"
    if coverage.status == "no-cues":
        return "unknown", "no cue annotation"
    missing = [v.cue for v in coverage.cues if v.covered is False]
    if missing:
        return "perception", "missing from the description: " + "; ".join(missing)
    unknown = [v.cue for v in coverage.cues if v.covered is None]
    if unknown:
        return "unknown", "no verdict for: " + "; ".join(unknown)
    return "reasoning", "every cue is in the description"


def attribute(
    coverages: Sequence[ItemCoverage],
    correct: Mapping[str, bool],
    answered: Mapping[str, bool],
    oracle: Mapping[str, bool] | None = None,
) -> list[Attributed]:
    """Every item's attribution (`correct`: by the chosen scorer; `oracle`: the oracle run's
    verdicts by the same scorer)."""
    out = []
    for coverage in coverages:
        right = correct[coverage.id]
        if right:
            out.append(
                Attributed(coverage.id, coverage.modality, coverage.category, True, None, "")
            )
            continue
        cause, reason = cause_of(coverage, answered[coverage.id])
        verdict = None
        if oracle is not None and coverage.id in oracle:
            verdict = FRONT_END_LOSS if oracle[coverage.id] else WRONG_WITH_ORACLE
        out.append(
            Attributed(
                coverage.id, coverage.modality, coverage.category, False, cause, reason, verdict
            )
        )
    return out


def _share(count: int, n: int) -> dict[str, Any]:
    return {"count": count, "share": count / n, "ci95": list(wilson_interval(count, n))}


def attribution_table(
    attributed: Sequence[Attributed], by: Sequence[str] = ("modality", "category")
) -> list[dict[str, Any]]:
    """Per group of wrong items (all, then each modality and layer): the count and share of
    each cause with a Wilson 95% interval, and the oracle verdicts when there are any."""
    wrong = [a for a in attributed if not a.correct]
    groups: list[tuple[str, list[Attributed]]] = [("all", wrong)]
    for key in by:
        values: dict[str, list[Attributed]] = {}
        for a in wrong:
            values.setdefault(getattr(a, key), []).append(a)
        groups += [(f"{key}={v}", items) for v, items in sorted(values.items())]
    rows = []
    for name, items in groups:
        if not items:
            continue
        n = len(items)
        row: dict[str, Any] = {"group": name, "wrong": n}
        for cause in CAUSES:
            row[cause] = _share(sum(a.cause == cause for a in items), n)
        judged = [a for a in items if a.oracle is not None]
        if judged:
            row["oracle_n"] = len(judged)
            row[FRONT_END_LOSS] = _share(
                sum(a.oracle == FRONT_END_LOSS for a in judged), len(judged)
            )
        rows.append(row)
    return rows


def coverage_accuracy(
    coverages: Sequence[ItemCoverage], correct: Mapping[str, bool], scorer: str = SCORER
) -> dict[str, Any]:
    """Accuracy (`correct`: by `scorer`) of the items whose description covers all, some or
    none of their cues (items with a known coverage only), and a chi-square test of
    independence of coverage level and correctness."""
    counts = {level: [0, 0] for level in LEVELS}
    for coverage in coverages:
        if coverage.level is not None:
            counts[coverage.level][0 if correct[coverage.id] else 1] += 1
    rows = []
    for level in LEVELS:
        right, wrong = counts[level]
        n = right + wrong
        if n:
            rows.append(
                {
                    "level": level,
                    "n": n,
                    "correct": right,
                    "accuracy": right / n,
                    "ci95": list(wilson_interval(right, n)),
                }
            )
    test = independence_test([counts[level] for level in LEVELS])
    return {"scorer": scorer, "rows": rows, "test": test.to_json() if test else None}


def coverage_groups(
    coverages: Sequence[ItemCoverage], by: Sequence[str] = ("modality", "category")
) -> list[dict[str, Any]]:
    """Mean item coverage (covered cues over cues, per item) with a t 95% interval over items:
    overall, per stage (the share of an item's cues that stage's text covers, over the items
    whose description has that stage), per modality and per layer."""
    measured = [c for c in coverages if c.coverage is not None]
    groups: list[tuple[str, list[float], int]] = []

    def add(name: str, chosen: Sequence[ItemCoverage], values: list[float]) -> None:
        if values:
            groups.append((name, values, sum(len(c.cues) for c in chosen)))

    add("all", measured, [c.coverage for c in measured if c.coverage is not None])
    stages = sorted({s for c in measured for s in c.stages})
    for stage in stages:
        chosen = [c for c in measured if stage in c.stages]
        add(
            f"stage={stage}",
            chosen,
            [sum(stage in v.stages for v in c.cues) / len(c.cues) for c in chosen],
        )
    for key in by:
        values: dict[str, list[ItemCoverage]] = {}
        for c in measured:
            values.setdefault(getattr(c, key), []).append(c)
        for value, chosen in sorted(values.items()):
            add(f"{key}={value}", chosen, [c.coverage for c in chosen if c.coverage is not None])
    return [
        {
            "group": name,
            "items": len(values),
            "cues": cues,
            "coverage": sum(values) / len(values),
            "ci95": list(mean_interval(values)),
        }
        for name, values, cues in groups
    ]
