"""Intervals, the random-guess baseline and its exact test, and paired tests between runs."""

from __future__ import annotations

import itertools
import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from cascade.scoring import (
    GroupStats,
    PairedComparison,
    bootstrap_interval,
    group_stats,
    mcnemar_exact,
    paired_comparison,
    poisson_binomial_sf,
    random_expectation,
    wilson_interval,
)

ROOT = Path(__file__).resolve().parents[1]
MMAR = [
    json.loads(line)
    for line in (ROOT / "cascade" / "core" / "benchmarks" / "mmar" / "MMAR-meta.jsonl")
    .read_text("utf-8")
    .splitlines()
]


# Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score, no
# continuity correction).
@pytest.mark.parametrize(
    ("correct", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_against_published_values(correct: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(correct, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_edges_and_errors() -> None:
    assert wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 10)[0] == 0.0
    lo90, hi90 = wilson_interval(50, 100, confidence=0.90)
    lo99, hi99 = wilson_interval(50, 100, confidence=0.99)
    assert lo99 < lo90 < 0.5 < hi90 < hi99
    for bad in ((0, 0), (5, 4), (-1, 4)):
        with pytest.raises(ValueError):
            wilson_interval(*bad)


def test_bootstrap_is_seeded_and_near_wilson() -> None:
    outcomes = [i % 3 == 0 for i in range(900)]
    first = bootstrap_interval(outcomes, seed=7)
    assert first == bootstrap_interval(outcomes, seed=7)
    assert first[0] < 300 / 900 < first[1]
    assert first == pytest.approx(wilson_interval(300, 900), abs=0.01)
    with pytest.raises(ValueError):
        bootstrap_interval([])


# The paper's Random Guess row (%, MMAR Table) and the MMAR `modality` value of each column.
PAPER_RANDOM_GUESS = {
    "sound": 29.39,  # Sound
    "music": 25.88,  # Music
    "speech": 31.48,  # Speech
    "mix-sound-music": 25.00,  # Sound-Music
    "mix-sound-speech": 29.30,  # Sound-Speech
    "mix-music-speech": 31.10,  # Music-Speech
    "mix-sound-music-speech": 28.13,  # Sound-Music-Speech
}
PAPER_RANDOM_GUESS_AVG = 29.32


def test_random_guess_row_of_the_paper() -> None:
    by_modality: dict[str, list[int]] = {}
    for item in MMAR:
        by_modality.setdefault(item["modality"], []).append(len(item["choices"]))
    ours = {m: 100 * random_expectation(k) for m, k in by_modality.items()}
    assert set(ours) == set(PAPER_RANDOM_GUESS)
    for modality, paper in PAPER_RANDOM_GUESS.items():
        assert ours[modality] == pytest.approx(paper, abs=0.05), modality
        # and no other modality would fit that column: the mapping is the only one
        assert [m for m in ours if abs(ours[m] - paper) <= 0.05] == [modality]
    overall = 100 * random_expectation([len(it["choices"]) for it in MMAR])
    assert overall == pytest.approx(PAPER_RANDOM_GUESS_AVG, abs=0.05)


def test_random_expectation() -> None:
    assert random_expectation([2, 4]) == pytest.approx(0.375)
    with pytest.raises(ValueError):
        random_expectation([])


def _enumerate_sf(k: int, probs: list[float]) -> float:
    total = 0.0
    for outcome in itertools.product((0, 1), repeat=len(probs)):
        if sum(outcome) >= k:
            total += math.prod(p if o else 1 - p for o, p in zip(outcome, probs, strict=True))
    return total


def test_poisson_binomial_against_enumeration() -> None:
    probs = [0.5, 0.25, 0.25, 1 / 3, 0.2, 1 / 6, 0.9, 0.05, 0.5, 0.25, 0.0, 1.0]
    for k in range(-1, len(probs) + 2):
        assert poisson_binomial_sf(k, probs) == pytest.approx(_enumerate_sf(k, probs), abs=1e-13)


def test_poisson_binomial_with_equal_probabilities_is_binomial() -> None:
    probs = [0.25] * 1000
    for k in (1, 250, 300, 400, 600, 1000):
        expected = float(scipy_stats.binom.sf(k - 1, 1000, 0.25))
        assert poisson_binomial_sf(k, probs) == pytest.approx(expected, rel=1e-9)


def _recursive_pmf(probs: list[Fraction]) -> list[Fraction]:
    """Exact rational pmf by the classical recursion P(k) = 1/k sum_i (-1)^(i-1) T(i) P(k-i),
    T(i) = sum_j (p_j / (1 - p_j))^i (Chen, Dempster and Liu 1994)."""
    n = len(probs)
    odds = [p / (1 - p) for p in probs]
    t = [sum(o**i for o in odds) for i in range(n + 1)]
    pmf = [math.prod((1 - p for p in probs), start=Fraction(1))]
    for k in range(1, n + 1):
        pmf.append(
            sum(((-1) ** (i - 1) * t[i] * pmf[k - i] for i in range(1, k + 1)), Fraction(0)) / k
        )
    return pmf


def test_poisson_binomial_against_exact_recursion() -> None:
    choices = [2, 4, 4, 3, 4, 5, 6, 2, 4, 4] * 6
    probs = [Fraction(1, c) for c in choices]
    pmf = _recursive_pmf(probs)
    assert sum(pmf) == 1
    for k in range(len(probs) + 1):
        assert poisson_binomial_sf(k, [float(p) for p in probs]) == pytest.approx(
            float(sum(pmf[k:])), rel=1e-10
        )


def test_poisson_binomial_on_all_of_mmar_against_convolved_binomials() -> None:
    counts: dict[int, int] = {}
    for item in MMAR:
        counts[len(item["choices"])] = counts.get(len(item["choices"]), 0) + 1
    pmf = np.array([1.0])
    for c, m in counts.items():
        pmf = np.convolve(pmf, scipy_stats.binom.pmf(np.arange(m + 1), m, 1 / c))
    probs = [1 / len(item["choices"]) for item in MMAR]
    for k in (0, 200, 293, 320, 400, 555, 700, 800):
        expected = float(pmf[k:].sum())
        assert expected > 0
        assert poisson_binomial_sf(k, probs) == pytest.approx(expected, rel=1e-9), k


@pytest.mark.parametrize(
    ("b", "c"), [(0, 1), (1, 0), (3, 3), (5, 12), (12, 5), (40, 61), (0, 25), (100, 130)]
)
def test_mcnemar_against_scipy_binomtest(b: int, c: int) -> None:
    expected = scipy_stats.binomtest(b, b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_without_discordant_pairs() -> None:
    assert mcnemar_exact(0, 0) == 1.0


def test_group_stats_and_bonferroni() -> None:
    outcomes = [True] * 42 + [False] * 58
    one = group_stats(outcomes, [4] * 100)
    p = float(scipy_stats.binom.sf(41, 100, 0.25))
    assert one == GroupStats(
        n=100,
        correct=42,
        accuracy=0.42,
        ci95=wilson_interval(42, 100),
        random_expectation=0.25,
        p_value=pytest.approx(p, rel=1e-9),  # type: ignore[arg-type]
        significant=True,
    )
    assert 0.001 / 30 < one.p_value < 0.001
    assert not group_stats(outcomes, [4] * 100, family_size=30).significant
    boot = group_stats(outcomes, [4] * 100, ci="bootstrap", seed=3)
    assert boot.ci95 == bootstrap_interval(outcomes, seed=3)
    assert one.to_json()["ci95"] == list(one.ci95)
    json.dumps(one.to_json())


def test_group_stats_mixed_choices_and_chance_level() -> None:
    got = group_stats([True, False, False, False], [2, 4, 4, 2])
    assert got.random_expectation == pytest.approx(0.375)
    assert got.p_value == pytest.approx(1 - 0.5 * 0.75 * 0.75 * 0.5)
    assert not got.significant


@pytest.mark.parametrize(
    ("outcomes", "n_choices", "kwargs"),
    [
        ([], [], {}),
        ([True], [4, 4], {}),
        ([True], [4], {"ci": "exact"}),
        ([True], [4], {"family_size": 0}),
    ],
)
def test_group_stats_refuses(
    outcomes: list[bool], n_choices: list[int], kwargs: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        group_stats(outcomes, n_choices, **kwargs)  # type: ignore[arg-type]


def test_paired_comparison() -> None:
    a = {"i1": True, "i2": True, "i3": False, "i4": False, "i5": True, "gone": True}
    b = {"i5": True, "i4": True, "i3": False, "i2": False, "i1": True, "new": False, "new2": True}
    got = paired_comparison(a, b)
    assert got == PairedComparison(
        n=5,
        both_correct=2,
        only_a=1,
        only_b=1,
        neither=1,
        p_value=1.0,
        a_accuracy=0.6,
        b_accuracy=0.6,
        difference=0.0,
        to_correct=("i4",),
        to_wrong=("i2",),
        only_in_a=1,
        only_in_b=2,
    )
    assert got.to_json()["to_wrong"] == ["i2"]


def test_paired_comparison_p_value_and_difference() -> None:
    a = {f"q{i}": False for i in range(20)}
    b = {f"q{i}": i < 15 for i in range(20)}
    got = paired_comparison(a, b)
    assert got.difference == pytest.approx(0.75)
    assert got.p_value == pytest.approx(mcnemar_exact(0, 15))
    assert got.to_correct == tuple(f"q{i}" for i in range(15))
    with pytest.raises(ValueError, match="share no item"):
        paired_comparison({"x": True}, {"y": True})
