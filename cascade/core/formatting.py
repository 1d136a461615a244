"""How every report writes a number and a table: percentages, markdown tables."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


def pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def markdown(table: pd.DataFrame) -> str:
    if table.empty:
        return "(no items)\n"
    # Cells are formatted already ("+3.12", "0.00"): tabulate must not re-read them as numbers.
    return str(table.to_markdown(index=False, disable_numparse=True)) + "\n"
