"""How a run is scored: the significance test, its family, and the interval method."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cascade.core import Strict


class ScoringSpec(Strict):
    alpha: float = Field(default=0.001, gt=0, lt=1)
    """Significance level of the test against random guessing (the MMAR paper: 0.001)."""
    family_size: int = Field(default=1, ge=1)
    """Bonferroni family size: the number of models or runs compared (the MMAR paper: 30)."""
    ci_method: Literal["wilson", "bootstrap"] = "wilson"
    """95% interval: `wilson` or `bootstrap`."""
    bootstrap_samples: int = Field(default=2000, ge=100)
    seed: int = 0
