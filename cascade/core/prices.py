"""Model prices (US dollars per million tokens): the project's one price table and its reader.

The table is `cascade/data/prices.yaml`, each price with its source and the date it was read; a
command may set a price of its own (`--price INPUT,OUTPUT`). A model without a price has no cost:
nothing is estimated from another model's price.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import yaml

from cascade.core.errors import ConfigError


@dataclass(frozen=True)
class Price:
    """What a million input and output tokens of one model cost, and where that was read."""

    model: str
    input_per_mtok: float
    output_per_mtok: float
    source: str

    def cost(self, input_tokens: float, output_tokens: float) -> float:
        """US dollars for these token counts."""
        return (input_tokens * self.input_per_mtok + output_tokens * self.output_per_mtok) / 1e6


@cache
def table() -> dict[str, Price]:
    """The shipped price table by model name."""
    text = resources.files("cascade.data").joinpath("prices.yaml").read_text(encoding="utf-8")
    return {
        model: Price(
            model,
            float(entry["input_per_mtok"]),
            float(entry["output_per_mtok"]),
            f"{entry['source']} (read {entry['read']})",
        )
        for model, entry in (yaml.safe_load(text) or {}).items()
    }


def parse(model: str, text: str) -> Price:
    """A price given on the command line as `INPUT,OUTPUT` (dollars per million tokens).

    Raises:
        ConfigError: not two non-negative numbers.
    """
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 2 or any(v < 0 for v in values):
        raise ConfigError(
            f"--price {text!r}: give the dollars per million input and output tokens as two "
            "numbers, e.g. --price 2.50,10.00"
        )
    return Price(model, values[0], values[1], "--price on the command line")


def price_of(model: str, given: str | None = None) -> Price | None:
    """The price of `model`: `given` (`INPUT,OUTPUT`) when set, else the table's, else None."""
    if given is not None:
        return parse(model, given)
    return table().get(model)
