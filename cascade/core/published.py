"""Published results of a benchmark, as reported (`cascade/data/published.yaml`): what a run's
numbers stand beside on every page. Read only; cascade reproduces none of them by reading."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml


@dataclass(frozen=True)
class Published:
    """One reported result: accuracy (%) and MMAR-Rubrics (0-100) where the source gives them."""

    system: str
    accuracy: float | None
    rubrics: float | None
    source: str


@cache
def published(benchmark: str = "mmar") -> tuple[Published, ...]:
    """The results reported for `benchmark` (none for a benchmark the file does not list)."""
    text = resources.files("cascade.data").joinpath("published.yaml").read_text(encoding="utf-8")
    rows = (yaml.safe_load(text) or {}).get(benchmark) or []
    return tuple(Published(**row) for row in rows)
