"""metrics.json: every scorer's accuracy overall and per group, with the statistics a paper needs.

Schema (version 1), all accuracies and rates are fractions in [0, 1]:

    {
      "schema_version": 1,
      "benchmark": str, "n_items": int, "pending": int,
      "skipped": {item_id: reason},                       # left out of the run (e.g. missing audio)
      "scoring": {"alpha", "family_size", "threshold": alpha / family_size, "ci"},
      "scorers": {                                         # one per row of the table of
        SCORER: {                                          # scorers (cascade.scoring.scorers),
          "overall": GROUP,                                # in its order: official, strict,
          "by": {"modality" | "category" | "sub-category" | "language": {value: GROUP}}
        }                                                  # lenient, then a package's
      },
      "invalid_rate": {READING: float},   # INVALID answers per reading (a scorer with a ladder:
      "invalid": {READING: int},          # strict, lenient): no single option read, hedges,
                                          # truncated answers, errors
      "truncated": int,                                       # answers cut by the length limit
      "errors": int,                                          # items with no answer at all
      "errors_by_stage": {stage: int},
      "cache": {...},                                         # computed vs re-used, when known
      "samples": {                          # only when some item has several samples (run.samples)
        "k": int, "min_samples": int,       # most and fewest samples of an item
        "overall": SAMPLED,
        "by": {"modality" | "category" | "sub-category" | "language": {value: SAMPLED}}
      }
    }
    GROUP = {"n", "correct", "accuracy", "ci95": [lo, hi], "random_expectation", "p_value",
             "significant"}
    SAMPLED = {"n",                                          # items
               "mean_accuracy": {scorer: {"mean", "se", "ci95": [lo, hi]}},
               "majority_accuracy": {scorer: float},
               "agreement": float,                           # mean share agreeing with the mode
               "ties": int}                                  # items without a majority

With several samples per item, every figure outside `samples` is computed on each item's
majority-vote line (the one in predictions.json), ties counted INVALID and wrong; the vote, the
mean accuracy's interval (standard error of the per-item accuracies) and agreement are defined in
cascade.scoring.samples. With one sample per item there is no `samples` section.

`significant` is the one-sided exact Poisson-binomial test against random guessing on exactly the
group's items, at alpha / family_size (Bonferroni). Errors count as wrong under every scorer;
how each answer is scored (hedges, truncated answers, predictions files): cascade.scoring.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from cascade.core import Item
from cascade.scoring.results import ItemResult, score_answer
from cascade.scoring.samples import majority_results, sampled, samples_metrics
from cascade.scoring.scorers import readings, scorer_names
from cascade.scoring.spec import ScoringSpec
from cascade.scoring.stats import group_stats

SCHEMA_VERSION = 1
GROUP_KEYS = ("modality", "category", "sub-category", "language")


def _stats(outcomes: Sequence[bool], choices: Sequence[int], spec: ScoringSpec) -> dict[str, Any]:
    stats: dict[str, Any] = group_stats(
        outcomes,
        choices,
        alpha=spec.alpha,
        family_size=spec.family_size,
        ci=spec.ci_method,
        bootstrap_samples=spec.bootstrap_samples,
        seed=spec.seed,
    ).to_json()
    return stats


def compute_metrics(
    items: Sequence[Item],
    results: Mapping[str, Mapping[str, Any]],
    spec: ScoringSpec,
    *,
    benchmark: str,
    skipped: Mapping[str, str] | None = None,
    cache: Mapping[str, Any] | None = None,
    samples: Mapping[str, Mapping[int, Mapping[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Metrics over the items that have a result (the others are counted as pending).

    `results` holds one line per item; with `samples` (every line by item and sample) holding
    several samples of an item, `results` is replaced by the majority-vote lines and the
    `samples` section is added.
    """
    repeated = samples is not None and sampled(samples)
    if samples is not None and repeated:
        results = majority_results(items, samples)
    scored_items = [i for i in items if i.id in results]
    facts = [ItemResult.from_json(results[i.id]) for i in scored_items]
    scores = [score_answer(i, f) for i, f in zip(scored_items, facts, strict=True)]
    choices = [len(i.choices) for i in scored_items]
    scorers: dict[str, Any] = {}
    for scorer in scorer_names():
        outcomes = [s.correct[scorer] for s in scores]
        groups: dict[str, dict[str, list[int]]] = {key: defaultdict(list) for key in GROUP_KEYS}
        for index, item in enumerate(scored_items):
            for key, value in item.groups.items():
                groups[key][value].append(index)
        scorers[scorer] = {
            "overall": _stats(outcomes, choices, spec) if scored_items else None,
            "by": {
                key: {
                    value: _stats([outcomes[i] for i in idx], [choices[i] for i in idx], spec)
                    for value, idx in sorted(by_value.items())
                }
                for key, by_value in groups.items()
            },
        }
    n = len(scored_items)
    invalid = {m: sum(s.invalid[m] for s in scores) for m in readings()}
    metrics = {
        "schema_version": SCHEMA_VERSION,
        "benchmark": benchmark,
        "n_items": n,
        "pending": len(items) - n,
        "skipped": dict(skipped or {}),
        "scoring": {
            "alpha": spec.alpha,
            "family_size": spec.family_size,
            "threshold": spec.alpha / spec.family_size,
            "ci": spec.ci_method,
        },
        "scorers": scorers,
        "invalid_rate": {m: (invalid[m] / n if n else 0.0) for m in invalid},
        "invalid": invalid,
        "truncated": sum(f.truncated for f in facts),
        "errors": sum(f.error is not None for f in facts),
        "errors_by_stage": dict(Counter(f.error_stage for f in facts if f.error is not None)),
        "cache": dict(cache or {}),
    }
    if samples is not None and repeated:
        metrics["samples"] = samples_metrics(items, samples, GROUP_KEYS)
    return metrics


def outcomes(
    items: Sequence[Item], results: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, bool]]:
    """Per scorer, item id -> correct, for the items that have a result."""
    names = scorer_names()
    table: dict[str, dict[str, bool]] = {scorer: {} for scorer in names}
    for item in items:
        if item.id not in results:
            continue
        scored = score_answer(item, ItemResult.from_json(results[item.id]))
        for scorer in names:
            table[scorer][item.id] = scored.correct[scorer]
    return table
