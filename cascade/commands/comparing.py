"""`cascade compare`: runs or predictions files side by side, with exact paired tests against the
first, and the comparison page when asked for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cascade.analysis import compare as comparison
from cascade.commands.display import Display, Quiet
from cascade.core import CascadeError, ConfigError
from cascade.report import ComparePage
from cascade.run import rescore
from cascade.scoring import PAIRED_ALPHA


@dataclass(frozen=True)
class Comparison:
    """The comparison (`analysis.compare.compare`'s record, with MMAR-Rubrics pairs under
    `rubrics`) and the page written, if any."""

    record: dict[str, Any]
    page: Path | None
    notices: tuple[str, ...] = ()


def paired_level(alpha: float | None) -> float:
    """The level of compare's paired tests: `--alpha`, or the one default of every paired test."""
    if alpha is None:
        return PAIRED_ALPHA
    if not 0 < alpha < 1:
        raise ConfigError(f"invalid --alpha {alpha}: the level must be between 0 and 1, e.g. 0.05")
    return alpha


def compare(
    paths: Sequence[Path],
    *,
    alpha: float | None = None,
    html: Path | None = None,
    display: Display | None = None,
) -> Comparison:
    """Compare `paths` (the first is the base), each scored with its own stored settings; with
    `html`, also write the comparison page there."""
    level = paired_level(alpha)
    if len(paths) < 2:
        raise CascadeError("compare needs at least two runs")
    runs = [(str(p), rescore.load(p)) for p in paths]
    notices = tuple(n for _, scorable in runs for n in scorable.notices)
    for notice in notices:
        (display or Quiet()).notice(notice)
    compared = comparison.compare(runs, alpha=level)
    compared["rubrics"] = comparison.rubric_pairs(paths, alpha=level)
    page = ComparePage(html).write(compared, paths) if html is not None else None
    return Comparison(compared, page, notices)
