"""What a run's answers cost: tokens used (prompt, completion, reasoning, cached) by the answers
it computed and by those it re-used from the cache, priced where a price is known, and the
`run.max_cost` limit checked against what it computed. Read from result lines, so the same
accounting serves a finished run (`summary.json`), a run in progress and `cascade runs`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cascade.core import CostLimitReached, prices

TOKENS = ("prompt_tokens", "completion_tokens", "reasoning_tokens", "cached_tokens")


@dataclass
class Tally:
    """Token counts of a set of answers."""

    requests: int = 0
    tokens: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TOKENS, 0))

    def add(self, usage: Mapping[str, Any]) -> None:
        self.requests += 1
        for name in TOKENS:
            value = usage.get(name)
            self.tokens[name] += int(value) if isinstance(value, int | float) else 0

    def cost(self, price: prices.Price | None, batch: bool) -> float | None:
        if price is None:
            return None
        return price.cost(
            self.tokens["prompt_tokens"],
            self.tokens["completion_tokens"],
            cached_tokens=self.tokens["cached_tokens"],
            batch=batch,
        )


def tally(lines: Iterable[Mapping[str, Any]]) -> tuple[Tally, Tally]:
    """(computed, re-used) token counts of the answered result lines."""
    computed, reused = Tally(), Tally()
    for line in lines:
        usage = line.get("usage")
        if line.get("error") is not None or not usage:
            continue
        (reused if line.get("reasoner_cached") else computed).add(usage)
    return computed, reused


def account(
    lines: Iterable[Mapping[str, Any]],
    price: prices.Price | None,
    *,
    model: str,
    batch: bool = False,
    stages: Mapping[str, Mapping[str, int]] | None = None,
    estimate: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The run's cost record (summary.json's `cost`): per stage and in total, with what the
    re-used answers saved and what the plan estimated."""
    computed, reused = tally(lines)
    spent = computed.cost(price, batch)
    return {
        "reasoner": {
            "model": model,
            "price": price.to_json() if price is not None else None,
            "batch": batch,
            "computed": {"requests": computed.requests, **computed.tokens, "cost_usd": _r(spent)},
            "reused": {
                "requests": reused.requests,
                **reused.tokens,
                "saved_usd": _r(reused.cost(price, batch)),
            },
        },
        "stages": {
            label: {**counts, "cost_usd": None, "note": "runs on this machine: no price"}
            for label, counts in (stages or {}).items()
        },
        "total_cost_usd": _r(spent),
        "note": None
        if price is not None
        else f"no price known for {model!r}: tokens only (set run.price or run.prices_file)",
        "estimate": dict(estimate) if estimate is not None else None,
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


@dataclass
class Budget:
    """`run.max_cost` over the answers a run computes, checked as each result is recorded."""

    limit: float | None
    price: prices.Price | None
    batch: bool = False
    spent: float = 0.0

    def charge(self, lines: Iterable[Mapping[str, Any]], run_dir: str) -> None:
        """Add the cost of newly computed answers.

        Raises:
            CostLimitReached: what was computed reached the limit.
        """
        if self.limit is None or self.price is None:
            return
        computed, _ = tally(lines)
        self.spent += computed.cost(self.price, self.batch) or 0.0
        if self.spent >= self.limit:
            raise CostLimitReached(
                f"stopped: the answers this run computed cost ${self.spent:.4f}, reaching "
                f"run.max_cost=${self.limit:g} (at {self.price.source}). Results so far are in "
                f"{run_dir}; raise --max-cost and run the same command again to go on (answered "
                "items are kept, cached answers cost nothing)."
            )
