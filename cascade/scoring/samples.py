"""Repeated samples (`run.samples: k`): each item's majority vote, and the statistics over samples.

The policy, the one place it is defined:

- An item's **vote** from one sample is the option the lenient ladder chose (its exact text, the
  `answer_prediction` written for it); a sample with no single option (INVALID, truncated, an
  error) votes INVALID. The item's **modal answer** is its most frequent vote, INVALID included.
- The **majority-vote answer** of an item is its first sample (lowest index) whose vote is the
  modal answer. When two or more votes tie for the most samples there is no majority: the item
  gets a line with no answer (`raw_answer` null, `answer_prediction` "") that every scorer counts
  INVALID and wrong. A tie is never broken at random. A modal INVALID keeps its sample's line,
  scored as that answer is.
- The majority-vote line is each item's line in predictions.json (what the official scripts
  score) and in every per-item figure of metrics.json (`scorers`, invalid rates, `compare`).
- **Mean accuracy** over samples: per item, the share of its samples that are correct; averaged
  over items. Samples of one item are not independent, so its interval is the t-interval of the
  mean of the per-item accuracies (`stats.mean_interval`): standard error = their standard
  deviation (n - 1) over sqrt(n items), 95% interval mean +- t(0.975, n - 1) SE clipped to [0, 1].
- **Agreement** of an item: the share of its samples whose vote is its modal answer (1 when all
  agree; with a tie, the tied count over k).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cascade.core import Item
from cascade.scoring.results import ItemResult, Scored, score_answer
from cascade.scoring.scorers import PREDICTION_READING, readings, scorer_names
from cascade.scoring.stats import mean_interval

TIE = "tie"


def vote(item: Item, scored: Scored) -> str | None:
    """A sample's vote: the chosen option's text, or None (INVALID)."""
    chosen = scored.extractions[PREDICTION_READING]
    if chosen is None or chosen.index is None:
        return None
    return item.choices[chosen.index]


@dataclass(frozen=True)
class ItemVotes:
    """One item's samples, scored, and their vote."""

    item: Item
    lines: tuple[Mapping[str, Any], ...]
    """The result lines in sample order."""
    scores: tuple[Scored, ...]
    votes: tuple[str | None, ...]

    @classmethod
    def of(cls, item: Item, by_sample: Mapping[int, Mapping[str, Any]]) -> ItemVotes:
        lines = tuple(by_sample[s] for s in sorted(by_sample))
        scores = tuple(score_answer(item, ItemResult.from_json(line)) for line in lines)
        return cls(item, lines, scores, tuple(vote(item, s) for s in scores))

    @property
    def counts(self) -> list[tuple[str | None, int]]:
        return Counter(self.votes).most_common()

    @property
    def tied(self) -> bool:
        counts = self.counts
        return len(counts) > 1 and counts[0][1] == counts[1][1]

    @property
    def agreement(self) -> float:
        return self.counts[0][1] / len(self.votes)

    def mean_correct(self, scorer: str) -> float:
        return sum(s.correct[scorer] for s in self.scores) / len(self.scores)

    def majority_line(self) -> dict[str, Any]:
        """The item's line for predictions and per-item figures (see the module docstring)."""
        tally = {"INVALID" if v is None else v: n for v, n in self.counts}
        if self.tied:
            return {
                **self.lines[0],
                "sample": None,
                "error": None,
                "error_stage": None,
                "raw_answer": None,
                "reasoning": "",
                "finish_reason": None,
                "truncated": False,
                "extractions": dict.fromkeys(readings()),
                "correct": dict.fromkeys(scorer_names(), False),
                "answer_prediction": "",
                "majority": TIE,
                "votes": tally,
            }
        modal = self.counts[0][0]
        chosen = next(line for line, v in zip(self.lines, self.votes, strict=True) if v == modal)
        return {**chosen, "majority": "INVALID" if modal is None else modal, "votes": tally}


def item_votes(
    items: Sequence[Item], samples: Mapping[str, Mapping[int, Mapping[str, Any]]]
) -> list[ItemVotes]:
    """The votes of every item that has a result line, in item order."""
    return [ItemVotes.of(i, samples[i.id]) for i in items if samples.get(i.id)]


def majority_results(
    items: Sequence[Item], samples: Mapping[str, Mapping[int, Mapping[str, Any]]]
) -> dict[str, dict[str, Any]]:
    """One line per item: its only line, or with several samples its majority-vote line."""
    return {
        v.item.id: dict(v.lines[0]) if len(v.lines) == 1 else v.majority_line()
        for v in item_votes(items, samples)
    }


def sampled(samples: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> bool:
    """Whether any item has more than one sample."""
    return any(len(by_sample) > 1 for by_sample in samples.values())


def mean_summary(values: Sequence[float]) -> dict[str, Any]:
    """Mean of per-item accuracies, its standard error and 95% t-interval (one item: no standard
    error, and the interval is [0, 1])."""
    n = len(values)
    mean = sum(values) / n
    se = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n) if n > 1 else None
    return {"mean": mean, "se": se, "ci95": list(mean_interval(values))}


def _group(votes: Sequence[ItemVotes]) -> dict[str, Any]:
    names = scorer_names()
    return {
        "n": len(votes),
        "mean_accuracy": {
            scorer: mean_summary([v.mean_correct(scorer) for v in votes]) for scorer in names
        },
        "majority_accuracy": {
            scorer: sum(
                score_answer(v.item, ItemResult.from_json(v.majority_line())).correct[scorer]
                for v in votes
            )
            / len(votes)
            for scorer in names
        },
        "agreement": sum(v.agreement for v in votes) / len(votes),
        "ties": sum(v.tied for v in votes),
    }


def samples_metrics(
    items: Sequence[Item],
    samples: Mapping[str, Mapping[int, Mapping[str, Any]]],
    group_keys: Sequence[str],
) -> dict[str, Any]:
    """The `samples` section of metrics.json (schema: cascade.scoring.metrics)."""
    votes = item_votes(items, samples)
    by: dict[str, dict[str, list[ItemVotes]]] = {key: {} for key in group_keys}
    for v in votes:
        for key, value in v.item.groups.items():
            if key in by:
                by[key].setdefault(value, []).append(v)
    sizes = [len(v.lines) for v in votes]
    return {
        "k": max(sizes),
        "min_samples": min(sizes),
        "overall": _group(votes),
        "by": {
            key: {value: _group(group) for value, group in sorted(values.items())}
            for key, values in by.items()
        },
    }
