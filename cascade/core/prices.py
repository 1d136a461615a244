"""Model prices (US dollars per million tokens): the project's one price table and its reader.

The table is `cascade/data/prices.yaml`, each entry with its source and the date it was read; a
user adds or overrides entries with a file in the same format (`run.prices_file`) or sets one
model's price for a command (`run.price`, `cascade judge --price`: `INPUT,OUTPUT[,CACHED]`). A
model without a price has no cost: nothing is estimated from another model's price.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from cascade.core.errors import ConfigError

FIELDS = ("input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "batch_discount")


@dataclass(frozen=True)
class Price:
    """What a million tokens of one model cost, and where that was read.

    `cached_input_per_mtok` prices the input tokens a provider served from its prompt cache
    (None: not known, and such tokens are priced as any input, an upper bound);
    `batch_discount` is the share its Batch API takes off (None: not known, no discount)."""

    model: str
    input_per_mtok: float
    output_per_mtok: float
    source: str
    cached_input_per_mtok: float | None = None
    batch_discount: float | None = None

    def cost(
        self,
        input_tokens: float,
        output_tokens: float,
        *,
        cached_tokens: float = 0,
        batch: bool = False,
    ) -> float:
        """US dollars for these token counts (`cached_tokens` are part of `input_tokens`)."""
        cached_rate = (
            self.input_per_mtok
            if self.cached_input_per_mtok is None
            else self.cached_input_per_mtok
        )
        dollars = (
            (input_tokens - cached_tokens) * self.input_per_mtok
            + cached_tokens * cached_rate
            + output_tokens * self.output_per_mtok
        ) / 1e6
        if batch and self.batch_discount is not None:
            dollars *= 1 - self.batch_discount
        return dollars

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "input_per_mtok": self.input_per_mtok,
            "output_per_mtok": self.output_per_mtok,
            "cached_input_per_mtok": self.cached_input_per_mtok,
            "batch_discount": self.batch_discount,
            "source": self.source,
        }


def _entries(data: Any, where: str) -> dict[str, Price]:
    """The prices of one table (the shipped one, or a user's file)."""
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: a price table maps model names to prices (see {SHIPPED})")
    found: dict[str, Price] = {}
    for model, entry in data.items():
        problem = _problem(entry)
        if problem:
            raise ConfigError(
                f"{where}: model {model!r}: {problem}; each entry gives input_per_mtok and "
                f"output_per_mtok (optional: cached_input_per_mtok, batch_discount), source and "
                f"read (see {SHIPPED})"
            )
        read = f" (read {entry['read']})" if entry.get("read") else ""
        found[str(model)] = Price(
            str(model),
            float(entry["input_per_mtok"]),
            float(entry["output_per_mtok"]),
            f"{entry.get('source') or where}{read}",
            _optional(entry.get("cached_input_per_mtok")),
            _optional(entry.get("batch_discount")),
        )
    return found


def _problem(entry: Any) -> str | None:
    if not isinstance(entry, Mapping):
        return "not a mapping"
    unknown = sorted(set(entry) - {*FIELDS, "source", "read", "note"})
    if unknown:
        return f"unknown keys {unknown}"
    for name in FIELDS:
        value = entry.get(name)
        required = name in FIELDS[:2]
        if value is None and not required:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            return f"{name} must be a number >= 0, got {value!r}"
    if (entry.get("batch_discount") or 0) >= 1:
        return "batch_discount is the share taken off: below 1"
    return None


def _optional(value: Any) -> float | None:
    return None if value is None else float(value)


SHIPPED = "cascade/data/prices.yaml"


@cache
def table() -> dict[str, Price]:
    """The shipped price table by model name."""
    text = resources.files("cascade.data").joinpath("prices.yaml").read_text(encoding="utf-8")
    return _entries(yaml.safe_load(text), SHIPPED)


def read_table(path: Path) -> dict[str, Price]:
    """A user's price file, in the shipped table's format.

    Raises:
        ConfigError: the file cannot be read or is not such a table.
    """
    from cascade.core.textfiles import read_yaml_mapping

    return _entries(read_yaml_mapping(path, kind="price table"), str(path))


def parse(model: str, text: str, origin: str = "--price") -> Price:
    """A price given as `INPUT,OUTPUT[,CACHED_INPUT]` (dollars per million tokens).

    Raises:
        ConfigError: not two or three non-negative numbers.
    """
    parts = str(text).split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (2, 3) or any(v < 0 for v in values):
        raise ConfigError(
            f"{origin} {text!r}: give the dollars per million input and output tokens (and, "
            "optionally, cached input tokens) as numbers, e.g. 2.50,10.00 or 2.50,10.00,1.25"
        )
    cached = values[2] if len(values) == 3 else None
    return Price(model, values[0], values[1], f"{origin} (set by the user)", cached)


def price_of(model: str, given: str | None = None, file: Path | None = None) -> Price | None:
    """The price of `model`: `given` (`INPUT,OUTPUT[,CACHED]`) when set, else the user's price
    `file`'s entry, else the shipped table's, else None."""
    if given is not None:
        return parse(model, given)
    if file is not None:
        found = read_table(file).get(model)
        if found is not None:
            return found
    return table().get(model)
