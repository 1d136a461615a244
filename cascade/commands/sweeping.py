"""`cascade ablate`: a sweep's base and variations as ordinary runs, then its tables and page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cascade.analysis import Outcome, Sweep, SweepResults
from cascade.analysis import ablate as ablating
from cascade.commands.display import Display, Quiet
from cascade.commands.running import run, run_together
from cascade.core import CascadeError
from cascade.report import write_sweep_report
from cascade.run import ComponentPool, executor_by_name, pipeline


@dataclass(frozen=True)
class SweepRun:
    """A sweep as this invocation ran it."""

    sweep: Sweep
    outcomes: list[Outcome]
    results: SweepResults

    @property
    def notices(self) -> list[str]:
        """What the reader must know first (scripted components, fallbacks), once each."""
        return sorted({n for o in self.outcomes for n in o.summary.get("notices") or []})

    @property
    def problems(self) -> list[str]:
        """One line per variation that failed, stopped, or left items without an answer."""
        return ablating.problems(self.outcomes)

    @property
    def exit_code(self) -> int:
        """0 when every variation answered every item, else the most serious variation's."""
        return ablating.exit_code(self.outcomes)


def load(
    sweep: str,
    *,
    overrides: Sequence[str] = (),
    output: Path | None = None,
    by: list[str] | None = None,
    only: Sequence[str] = (),
) -> Sweep:
    """The sweep file (or a name under configs/ablations/) expanded into its runs; with `only`,
    the base and those variations alone."""
    expanded = ablating.load_sweep(sweep, overrides=tuple(overrides), output=output, by=by)
    if not only:
        return expanded
    known = [v.name for v in expanded.variations]
    if unknown := sorted(set(only) - set(known)):
        raise CascadeError(f"no variation {unknown} in sweep {expanded.name}; has {known}")
    kept = tuple(v for v in expanded.variations if v.name == ablating.BASE or v.name in only)
    return Sweep(expanded.name, expanded.spec, expanded.folder, kept)


def sweep_plan(sweep: Sweep) -> dict[str, Path]:
    """Each variation's run directory (`--dry-run`); runs nothing."""
    return {v.name: pipeline.run_directory(v.config) for v in sweep.variations}


def ablate(sweep: Sweep, *, display: Display | None = None) -> SweepRun:
    """Run every variation of `sweep` (one job when its executor shares work, as Ray does; else
    in order, each model loaded once for the whole sweep), then score them and write the tables
    and report.html. A failing variation is recorded and the sweep goes on."""
    shown = display or Quiet()

    def run_one(variation: ablating.Variation) -> dict[str, Any]:
        with shown.bars() as bars:
            bar = bars.add(variation.name)
            summary = run(variation.config, progress=bar.progress, pool=pool)
        return summary.to_json()

    def run_all(variations: Sequence[ablating.Variation]) -> list[dict[str, Any] | CascadeError]:
        with shown.bars() as bars:
            added = [bars.add(v.name) for v in variations]

            def progress(index: int) -> Callable[[int, int], None]:
                return added[index].progress

            ended = run_together(
                [v.config for v in variations], progress=progress, phase=bars.status
            )
        return [e if isinstance(e, CascadeError) else e.to_json() for e in ended]

    together = executor_by_name(sweep.variations[0].config.run.executor).shares_work
    with (
        shown.logged(sweep.files.log_path, f"cascade ablate {sweep.name}"),
        ComponentPool() as pool,
    ):
        if together:
            outcomes = ablating.run_sweep_together(sweep, run_all)
        else:
            outcomes = ablating.run_sweep(sweep, run_one)
    return SweepRun(sweep, outcomes, finish_sweep(sweep, outcomes))


def finish_sweep(sweep: Sweep, outcomes: list[Outcome]) -> SweepResults:
    """Score a sweep's finished variations and write its tables (`ablate.finish`), then its
    report.html."""
    results = ablating.finish(sweep, outcomes)
    write_sweep_report(sweep, outcomes, results)
    return results
