"""Accuracy statistics: intervals, the random-guess baseline and its exact test, paired tests."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

# scipy.stats is not imported: it alone takes about a second to import, more than re-scoring
# 1000 items with every statistic; the two distributions needed here are exact in a few lines.


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def _binomial_half_cdf(k: int, n: int) -> float:
    """Exact P(X <= k) for X ~ Binomial(n, 1/2), in integers and rounded once."""
    term = total = 1  # C(n, 0)
    for i in range(k):
        term = term * (n - i) // (i + 1)
        total += term
    return total / (1 << n)


def wilson_interval(correct: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Args:
        correct: number of successes, 0 to n.
        n: number of trials, at least 1.
        confidence: two-sided coverage, e.g. 0.95.

    Returns:
        (low, high) as fractions in [0, 1].

    Raises:
        ValueError: when n < 1 or correct is outside 0..n.
    """
    if n < 1 or not 0 <= correct <= n:
        raise ValueError(f"a Wilson interval needs 0 <= correct <= n and n >= 1, got {correct}/{n}")
    z = _z(confidence)
    p = correct / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    low = 0.0 if correct == 0 else (centre - spread) / scale
    high = 1.0 if correct == n else (centre + spread) / scale
    return (max(0.0, low), min(1.0, high))


def bootstrap_interval(
    outcomes: Sequence[bool], *, samples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of the accuracy of `outcomes`.

    Resampling n right/wrong outcomes with replacement gives a count of right ones that is
    Binomial(n, observed accuracy); it is drawn as such, which is the same distribution as
    resampling item by item and costs one draw per bootstrap sample.

    Args:
        outcomes: one bool per item (True = correct); at least one.
        samples: number of bootstrap samples.
        seed: seed of the random generator; the same seed gives the same interval.
        confidence: two-sided coverage, e.g. 0.95.

    Returns:
        (low, high) as fractions in [0, 1].

    Raises:
        ValueError: on empty outcomes, samples < 1 or a confidence outside (0, 1).
    """
    n = len(outcomes)
    if n == 0 or samples < 1:
        raise ValueError(f"a bootstrap needs outcomes and samples, got {n} and {samples}")
    _z(confidence)
    rng = np.random.default_rng(seed)
    means = rng.binomial(n, sum(map(bool, outcomes)) / n, size=samples) / n
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return (float(low), float(high))


def random_expectation(n_choices: Sequence[int]) -> float:
    """Expected accuracy of guessing uniformly at random: the mean of 1/len(choices).

    Args:
        n_choices: the number of choices of each item; at least one item.

    Returns:
        A fraction in (0, 1].

    Raises:
        ValueError: on no items or an item with fewer than one choice.
    """
    if not n_choices or min(n_choices) < 1:
        raise ValueError(f"random expectation needs items with choices, got {list(n_choices)[:5]}")
    return sum(1 / k for k in n_choices) / len(n_choices)


def poisson_binomial_pmf(probs: Sequence[float]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Exact distribution of the number of successes of independent Bernoulli(p_i) trials.

    Built by convolving one trial at a time; every step adds non-negative terms, so there is
    no cancellation (values below ~1e-308 underflow to 0).

    Args:
        probs: success probability of each trial, each in [0, 1].

    Returns:
        pmf with pmf[k] = P(X = k), k = 0..len(probs).
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.size and (np.isnan(p).any() or p.min() < 0 or p.max() > 1):
        raise ValueError("Poisson-binomial probabilities must lie in [0, 1]")
    pmf = np.zeros(p.size + 1)
    pmf[0] = 1.0
    for i, pi in enumerate(p, start=1):
        pmf[1 : i + 1] = pmf[1 : i + 1] * (1 - pi) + pmf[:i] * pi
        pmf[0] *= 1 - pi
    return pmf


def poisson_binomial_sf(k: int, probs: Sequence[float]) -> float:
    """Exact P(X >= k) for X the number of successes of independent Bernoulli(p_i) trials.

    The upper tail is summed directly (not 1 - cdf), so small p-values keep their precision.

    Args:
        k: the threshold count.
        probs: success probability of each trial, each in [0, 1].

    Returns:
        The tail probability; 1.0 for k <= 0 and 0.0 for k > len(probs).
    """
    pmf = poisson_binomial_pmf(probs)
    if k <= 0:
        return 1.0
    return min(1.0, float(pmf[k:].sum()))


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar test: the binomial test of b against b + c at p = 1/2.

    Args:
        b: discordant pairs one way (right in A, wrong in B).
        c: discordant pairs the other way (wrong in A, right in B).

    Returns:
        The p-value; 1.0 when there are no discordant pairs.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got {b} and {c}")
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2 * _binomial_half_cdf(min(b, c), n))


@dataclass(frozen=True)
class GroupStats:
    """The statistics reported for one group of items (overall, a modality, a layer...).

    `accuracy`, `ci95` and `random_expectation` are fractions; `p_value` is the one-sided exact
    probability of at least `correct` right answers by guessing uniformly at random on these
    items; `significant` compares it with the Bonferroni-corrected level alpha / family size.
    """

    n: int
    correct: int
    accuracy: float
    ci95: tuple[float, float]
    random_expectation: float
    p_value: float
    significant: bool

    def to_json(self) -> dict[str, Any]:
        """The group as metrics.json stores it (`ci95` as a two-element list)."""
        return {
            "n": self.n,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "ci95": list(self.ci95),
            "random_expectation": self.random_expectation,
            "p_value": self.p_value,
            "significant": self.significant,
        }


def group_stats(
    outcomes: Sequence[bool],
    n_choices: Sequence[int],
    *,
    alpha: float = 0.001,
    family_size: int = 1,
    ci: str = "wilson",
    bootstrap_samples: int = 2000,
    seed: int = 0,
) -> GroupStats:
    """Accuracy of one group of items with its interval and its test against random guessing.

    The test is one-sided and exact: under guessing, item i is right with probability
    1/n_choices[i], so the number right is Poisson-binomial; the p-value is P(X >= correct).
    Groups are never empty: an empty group has no accuracy, and callers only form groups from
    items they have.

    Args:
        outcomes: one bool per item (True = correct; an INVALID answer is False).
        n_choices: the number of choices of the same items, in the same order.
        alpha: significance level before correction (the MMAR paper: 0.001).
        family_size: number of comparisons in the Bonferroni family (the paper: 30 models).
        ci: "wilson" or "bootstrap".
        bootstrap_samples: samples for the bootstrap interval.
        seed: seed for the bootstrap interval.

    Returns:
        The group's statistics.

    Raises:
        ValueError: on an empty group, lengths that differ, an unknown `ci`, or alpha or
            family_size out of range.
    """
    n = len(outcomes)
    if n == 0:
        raise ValueError("group_stats needs at least one item: an empty group has no accuracy")
    if len(n_choices) != n:
        raise ValueError(f"{n} outcomes but {len(n_choices)} choice counts")
    if not 0 < alpha < 1 or family_size < 1:
        raise ValueError(f"need 0 < alpha < 1 and family_size >= 1, got {alpha}, {family_size}")
    correct = sum(map(bool, outcomes))
    if ci == "wilson":
        interval = wilson_interval(correct, n)
    elif ci == "bootstrap":
        interval = bootstrap_interval(outcomes, samples=bootstrap_samples, seed=seed)
    else:
        raise ValueError(f"unknown interval method {ci!r}: use 'wilson' or 'bootstrap'")
    p_value = poisson_binomial_sf(correct, [1 / k for k in n_choices])
    return GroupStats(
        n=n,
        correct=correct,
        accuracy=correct / n,
        ci95=interval,
        random_expectation=random_expectation(n_choices),
        p_value=p_value,
        significant=p_value < alpha / family_size,
    )


@dataclass(frozen=True)
class PairedComparison:
    """Run B against run A on the items both scored.

    `difference` is B's accuracy minus A's; `p_value` is the exact McNemar test on the items
    that flipped; `to_correct` lists items wrong in A and right in B, `to_wrong` the reverse,
    both in A's order. `only_in_a` / `only_in_b` count items scored by one run alone, which
    are left out of every other figure.
    """

    n: int
    both_correct: int
    only_a: int
    only_b: int
    neither: int
    p_value: float
    a_accuracy: float
    b_accuracy: float
    difference: float
    to_correct: tuple[str, ...]
    to_wrong: tuple[str, ...]
    only_in_a: int = 0
    only_in_b: int = 0

    def to_json(self) -> dict[str, Any]:
        """The comparison as a JSON object (id tuples as lists)."""
        return {
            "n": self.n,
            "both_correct": self.both_correct,
            "only_a": self.only_a,
            "only_b": self.only_b,
            "neither": self.neither,
            "p_value": self.p_value,
            "a_accuracy": self.a_accuracy,
            "b_accuracy": self.b_accuracy,
            "difference": self.difference,
            "to_correct": list(self.to_correct),
            "to_wrong": list(self.to_wrong),
            "only_in_a": self.only_in_a,
            "only_in_b": self.only_in_b,
        }


def paired_comparison(a: Mapping[str, bool], b: Mapping[str, bool]) -> PairedComparison:
    """Compare two runs item by item (exact McNemar test and the items that flipped).

    Only the items both runs scored are compared; `n` says how many, and `only_in_a` /
    `only_in_b` how many were left out, so that a comparison on partly different items is
    visible rather than silent.

    Args:
        a: item id -> correct, for the first (base) run.
        b: item id -> correct, for the second run.

    Returns:
        The comparison of B against A.

    Raises:
        ValueError: when the runs share no item.
    """
    shared = [i for i in a if i in b]
    if not shared:
        raise ValueError(f"the runs share no item ({len(a)} and {len(b)} items)")
    to_correct = tuple(i for i in shared if not a[i] and b[i])
    to_wrong = tuple(i for i in shared if a[i] and not b[i])
    both = sum(1 for i in shared if a[i] and b[i])
    n = len(shared)
    a_right = both + len(to_wrong)
    b_right = both + len(to_correct)
    return PairedComparison(
        n=n,
        both_correct=both,
        only_a=len(to_wrong),
        only_b=len(to_correct),
        neither=n - both - len(to_wrong) - len(to_correct),
        p_value=mcnemar_exact(len(to_wrong), len(to_correct)),
        a_accuracy=a_right / n,
        b_accuracy=b_right / n,
        difference=(b_right - a_right) / n,
        to_correct=to_correct,
        to_wrong=to_wrong,
        only_in_a=len(a) - n,
        only_in_b=len(b) - n,
    )


PAIRED_ALPHA = 0.05
"""The default level of every paired test between runs (`cascade compare`, ablation sweeps),
before the Bonferroni correction for the number of runs compared with the base. It is not the
level of the test against random guessing (`scoring.alpha`; the MMAR paper's 0.001 over 30
models): comparing two configurations is one planned test per run, not a screen of many models."""


@dataclass(frozen=True)
class PairedTest:
    """A paired comparison judged at `alpha`, Bonferroni-corrected for `comparisons` runs
    compared with the same base: significant when min(1, p * comparisons) < alpha."""

    comparison: PairedComparison
    comparisons: int
    alpha: float

    @property
    def p_bonferroni(self) -> float:
        return min(1.0, self.comparison.p_value * self.comparisons)

    @property
    def significant(self) -> bool:
        return self.p_bonferroni < self.alpha

    def to_json(self) -> dict[str, Any]:
        """The comparison with its corrected p-value and verdict."""
        return {
            **self.comparison.to_json(),
            "p_bonferroni": self.p_bonferroni,
            "significant": self.significant,
        }


def paired_test(
    a: Mapping[str, bool],
    b: Mapping[str, bool],
    *,
    comparisons: int,
    alpha: float = PAIRED_ALPHA,
) -> PairedTest:
    """Run B against base A on their shared items: the one paired test of compare and sweeps.

    Args:
        a: item id -> correct, for the base run.
        b: item id -> correct, for the other run.
        comparisons: how many runs are compared with the same base (the Bonferroni family).
        alpha: level of the test before the correction.

    Returns:
        The exact McNemar comparison and its Bonferroni-corrected verdict.

    Raises:
        ValueError: when the runs share no item, or alpha or comparisons is out of range.
    """
    if not 0 < alpha < 1 or comparisons < 1:
        raise ValueError(f"need 0 < alpha < 1 and comparisons >= 1, got {alpha}, {comparisons}")
    return PairedTest(paired_comparison(a, b), comparisons, alpha)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """A t-interval of the mean of per-item fractions, clipped to [0, 1]; [0, 1] for fewer than
    two values (their spread, hence the interval, is unknown). The one interval of a mean of
    per-item values in cascade: rubric scores, cue coverage, accuracy over repeated samples.

    Raises:
        ValueError: on no values or a confidence outside (0, 1).
    """
    from scipy import stats

    n = len(values)
    if n == 0:
        raise ValueError("a mean interval needs at least one value")
    _z(confidence)
    mean = sum(values) / n
    if n < 2:
        return (0.0, 1.0)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    return (max(0.0, mean - half), min(1.0, mean + half))


@dataclass(frozen=True)
class IndependenceTest:
    """Pearson's chi-square test of independence of a table of counts (rows x columns)."""

    statistic: float
    dof: int
    p_value: float
    min_expected: float
    """The smallest expected count: below 5 the chi-square approximation is rough."""

    def to_json(self) -> dict[str, Any]:
        return {
            "test": "chi-square of independence (Pearson, no continuity correction)",
            "statistic": self.statistic,
            "dof": self.dof,
            "p_value": self.p_value,
            "min_expected": self.min_expected,
        }


def independence_test(table: Sequence[Sequence[int]]) -> IndependenceTest | None:
    """Whether rows and columns of `table` are independent; None when a row or a column is
    all zero after dropping empty rows (nothing to test)."""
    from scipy import stats

    rows = [list(r) for r in table if sum(r) > 0]
    if len(rows) < 2 or any(sum(col) == 0 for col in zip(*rows, strict=True)):
        return None
    statistic, p_value, dof, expected = stats.chi2_contingency(rows, correction=False)
    return IndependenceTest(
        float(statistic), int(dof), float(p_value), float(np.asarray(expected).min())
    )


def paired_scores(
    a: Mapping[str, float],
    b: Mapping[str, float],
    *,
    comparisons: int,
    alpha: float = PAIRED_ALPHA,
) -> dict[str, Any]:
    """Run B against base A on per-item scores (MMAR-Rubrics): the paired test of scores.

    Scores are fractions with many ties at 0 (wrong answers), so the test is Wilcoxon's
    signed-rank test on the items whose scores differ (two-sided; p = 1 when none differ),
    Bonferroni-corrected over `comparisons` like `paired_test`.

    Raises:
        ValueError: when the runs share no item, or alpha or comparisons is out of range.
    """
    from scipy import stats

    if not 0 < alpha < 1 or comparisons < 1:
        raise ValueError(f"need 0 < alpha < 1 and comparisons >= 1, got {alpha}, {comparisons}")
    shared = [i for i in a if i in b]
    if not shared:
        raise ValueError(f"the runs share no judged item ({len(a)} and {len(b)} items)")
    differences = [b[i] - a[i] for i in shared if b[i] != a[i]]
    p_value = 1.0 if not differences else float(stats.wilcoxon(differences).pvalue)
    mean_a = sum(a[i] for i in shared) / len(shared)
    mean_b = sum(b[i] for i in shared) / len(shared)
    p_corrected = min(1.0, p_value * comparisons)
    return {
        "n": len(shared),
        "changed": len(differences),
        "a_mean": mean_a,
        "b_mean": mean_b,
        "difference": mean_b - mean_a,
        "p_value": p_value,
        "p_bonferroni": p_corrected,
        "significant": p_corrected < alpha,
    }
