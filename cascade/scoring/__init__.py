"""Scoring: answer extraction, the official rule and the stricter ones, statistics and metrics.

Pure functions over items and answers; imports only the core.
"""

from cascade.scoring.extraction import (
    INVALID,
    LENIENT_RULES,
    STRICT_RULES,
    Extraction,
    extract_lenient,
    extract_strict,
    option_letters,
    reasoning_before_answer,
)
from cascade.scoring.metrics import GROUP_KEYS, compute_metrics, outcomes
from cascade.scoring.results import ItemResult, extraction_json, score_answer
from cascade.scoring.rules import (
    EXTRACTORS,
    INVALID_BY,
    SCORERS,
    Scored,
    prediction_text,
    score,
)
from cascade.scoring.samples import majority_results, samples_metrics
from cascade.scoring.spec import ScoringSpec
from cascade.scoring.stats import (
    PAIRED_ALPHA,
    GroupStats,
    IndependenceTest,
    PairedComparison,
    bootstrap_interval,
    group_stats,
    independence_test,
    mcnemar_exact,
    mean_interval,
    paired_comparison,
    paired_scores,
    paired_test,
    poisson_binomial_sf,
    random_expectation,
    wilson_interval,
)

__all__ = [
    "EXTRACTORS",
    "GROUP_KEYS",
    "INVALID",
    "INVALID_BY",
    "LENIENT_RULES",
    "PAIRED_ALPHA",
    "SCORERS",
    "STRICT_RULES",
    "Extraction",
    "GroupStats",
    "IndependenceTest",
    "ItemResult",
    "PairedComparison",
    "Scored",
    "ScoringSpec",
    "bootstrap_interval",
    "compute_metrics",
    "extract_lenient",
    "extract_strict",
    "extraction_json",
    "group_stats",
    "independence_test",
    "majority_results",
    "mcnemar_exact",
    "mean_interval",
    "option_letters",
    "outcomes",
    "paired_comparison",
    "paired_scores",
    "paired_test",
    "poisson_binomial_sf",
    "prediction_text",
    "random_expectation",
    "reasoning_before_answer",
    "samples_metrics",
    "score",
    "score_answer",
    "wilson_interval",
]
