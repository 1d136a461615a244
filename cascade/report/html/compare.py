"""report.html for a comparison of runs and for a sweep: tables, difference plots, flipped items.

Both pages link every run to its own report.html (whose items can be opened by URL hash,
`report.html#item=<id>`), so a flipped item is one click from its audio, description and answer.
The markup is in templates/compare.html.j2 and templates/sweep.html.j2.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from cascade.analysis import DOSE_KEYS, Outcome, Sweep, SweepResults, sweep_table
from cascade.analysis import compare as comparison
from cascade.core import write_atomic
from cascade.report.html import svg
from cascade.report.html.render import render
from cascade.report.html.run_page import GROUP_TITLES
from cascade.run import RunDir
from cascade.scoring import SCORERS


@dataclass(frozen=True)
class Link:
    """`text`, linked to `href` when the run it names has a report.html."""

    text: str
    href: str | None = None


def _link(run_dir: Path | None, page_dir: Path, text: str, item: str | None = None) -> Link:
    report = None if run_dir is None else RunDir(run_dir).report_html_path
    if report is None or not report.is_file():
        return Link(text)
    href = Path(os.path.relpath(report, page_dir)).as_posix()
    if item is not None:
        href += f"#item={item}"
    return Link(text, href)


@dataclass(frozen=True)
class Flips:
    title: str
    items: list[tuple[Link, Link]]
    """Each flipped item in the run, beside the same item in the base."""


def _flips(
    flips: Mapping[str, Sequence[str]], run_dir: Path | None, base_dir: Path | None, page_dir: Path
) -> list[Flips]:
    return [
        Flips(
            title,
            [
                (_link(run_dir, page_dir, i, i), _link(base_dir, page_dir, "base", i))
                for i in flips.get(key) or []
            ],
        )
        for key, title in (("wrong_to_right", "wrong → right"), ("right_to_wrong", "right → wrong"))
    ]


# --- sweep -------------------------------------------------------------------------------------


def _value(record: Mapping[str, Any], key: str) -> float | None:
    value = record.get(key)
    return None if value is None or pd.isna(value) else float(value)


def dose_charts(doses: pd.DataFrame, scorer: str) -> Markup:
    """One dose-response chart per dose (`doses.dose_table`) for one scorer: accuracy and, when
    the runs have it, cue coverage against the level, with the random-guess line."""
    charts = []
    for dose in dict.fromkeys(doses["dose"]):
        rows = doses[(doses["dose"] == dose) & (doses["scorer"] == scorer)].to_dict("records")
        if not rows:
            continue
        accuracy = svg.Curve(
            "accuracy",
            tuple(
                svg.Point(
                    float(r["level"]),
                    float(r["accuracy"]),
                    _value(r, "ci_low"),
                    _value(r, "ci_high"),
                    f"n={r['n']}",
                )
                for r in rows
                if _value(r, "accuracy") is not None
            ),
        )
        covered = [r for r in rows if _value(r, "coverage") is not None]
        coverage = svg.Curve(
            f"cue coverage ({covered[0]['coverage_measure']})" if covered else "cue coverage",
            tuple(
                svg.Point(
                    float(r["level"]),
                    float(r["coverage"]),
                    _value(r, "coverage_low"),
                    _value(r, "coverage_high"),
                    f"n={int(r['coverage_n'])}",
                )
                for r in covered
            ),
        )
        key = str(rows[0]["key"])
        charts.append(
            svg.dose_chart(
                [accuracy, coverage] if covered else [accuracy],
                title=f"{dose}: accuracy ({scorer}) by level, 95% intervals",
                axis=f"{key}: {DOSE_KEYS[key]}",
                reference=[
                    (float(r["level"]), float(r["random"]))
                    for r in rows
                    if _value(r, "random") is not None
                ],
            )
        )
    return Markup("".join(charts))


@dataclass(frozen=True)
class SweepChart:
    """Charts over the whole sweep (one per scorer), shown in their own section after the
    differences."""

    title: str
    by_scorer: Mapping[str, Markup]


@dataclass(frozen=True)
class SweepRun:
    link: Link
    error: str | None


def _sweep_charts(rows: list[dict[Hashable, Any]], scorer: str, base: str) -> list[Markup]:
    accuracy = svg.interval_chart(
        [
            svg.Group(
                r["variation"],
                (svg.Bar(scorer, r["accuracy"], r["ci_low"], r["ci_high"], f"n={r['n']}"),),
                r["random"],
            )
            for r in rows
            if not pd.isna(r.get("accuracy"))
        ],
        title=f"Accuracy per variation ({scorer}), 95% intervals",
    )
    deltas = svg.delta_chart(
        [
            svg.Delta(
                r["variation"],
                r["difference"],
                bool(r["significant"]),
                f"(p × m = {r['p_bonferroni']:.3g})",
            )
            for r in rows
            if r["variation"] != base and not pd.isna(r.get("difference"))
        ],
        title=f"Difference from the base ({scorer})",
    )
    return [deltas, accuracy]


def sweep_page(
    name: str,
    table: pd.DataFrame,
    flips: Mapping[str, Mapping[str, Mapping[str, Sequence[str]]]],
    summaries: Mapping[str, Mapping[str, Any]],
    run_dirs: Mapping[str, Path],
    page_path: Path,
    *,
    alpha: float,
    scorer: str = "strict",
    text_only: Sequence[str] = (),
    doses: pd.DataFrame | None = None,
) -> str:
    """The report.html of a sweep, opening on `scorer`; `text_only` names the variations whose
    right answers came without hearing anything; `doses` is the sweep's dose-response table."""

    page_dir = page_path.parent
    variations = list(dict.fromkeys(table["variation"]))
    base = variations[0]
    overall = table[table["group"] == "all"]
    shown = sweep_table.display_table(table).drop(columns=["scorer"])
    flipped = {}
    for s in SCORERS:
        changed, unchanged = [], []
        for variation in variations[1:]:
            found = flips.get(variation, {}).get(s, {})
            if not found.get("wrong_to_right") and not found.get("right_to_wrong"):
                unchanged.append(variation)
            else:
                pair = _flips(found, run_dirs.get(variation), run_dirs.get(base), page_dir)
                changed.append((variation, pair))
        flipped[s] = {"changed": changed, "unchanged": unchanged}
    m = max(1, len(variations) - 1)
    return render(
        "sweep.html.j2",
        title=f"Sweep {name}",
        subtitle=(
            f"{len(variations)} runs: the base ({base}) and {len(variations) - 1} variation(s); "
            f"alpha {alpha}, Bonferroni over {m}"
        ),
        scorer=scorer,
        scorers=SCORERS,
        charts={
            s: _sweep_charts(overall[overall["scorer"] == s].to_dict("records"), s, base)
            for s in SCORERS
        },
        sweep_chart=(
            None
            if doses is None or doses.empty
            else SweepChart("Dose-response", {s: dose_charts(doses, s) for s in SCORERS})
        ),
        m=m,
        alpha=alpha,
        results={
            s: {
                "overall": shown[(table["scorer"] == s) & (table["group"] == "all")],
                "by_group": shown[(table["scorer"] == s) & (table["group"] != "all")],
            }
            for s in SCORERS
        },
        text_only={
            variation: {
                s: [
                    _link(run_dirs.get(variation), page_dir, i, i)
                    for i in flips.get(variation, {}).get(s, {}).get("correct", [])
                ]
                for s in SCORERS
            }
            for variation in text_only
        },
        flips=flipped,
        runs=[
            SweepRun(
                _link(run_dirs.get(v), page_dir, v),
                str(summaries[v]["error"]) if summaries.get(v, {}).get("error") else None,
            )
            for v in summaries
        ],
        work=sweep_table.work_table(summaries),
    )


# --- comparison --------------------------------------------------------------------------------


def _compare_charts(compared: dict[str, Any], scorer: str) -> list[Markup]:
    runs = compared["runs"]
    names = [r["name"] for r in runs]
    pairs = [p for p in compared["paired"] if p["scorer"] == scorer]
    charts = [
        svg.delta_chart(
            [svg.Delta(p["run"], p["difference"], bool(p["significant"])) for p in pairs],
            title=f"Difference from {names[0]} ({scorer})",
        )
    ]
    for key in GROUP_TITLES:
        values = list(
            dict.fromkeys(
                v for r in runs for v in r["metrics"]["scorers"][scorer]["by"].get(key, {})
            )
        )
        groups = []
        for value in values:
            bars = []
            reference = None
            for run in runs:
                group = run["metrics"]["scorers"][scorer]["by"].get(key, {}).get(value)
                if group is None:
                    continue
                reference = group["random_expectation"]
                bars.append(
                    svg.Bar(
                        run["name"],
                        group["accuracy"],
                        group["ci95"][0],
                        group["ci95"][1],
                        f"n={group['n']}",
                    )
                )
            groups.append(svg.Group(value, tuple(bars), reference))
        charts.append(
            svg.interval_chart(
                groups, title=f"Accuracy by {GROUP_TITLES[key]} ({scorer})", series=names
            )
        )
    return charts


@dataclass(frozen=True)
class Pair:
    scorer: str
    run: str
    base: str
    flips: list[Flips]


def compare_page(compared: dict[str, Any], run_dirs: Sequence[Path | None], page_path: Path) -> str:
    """The report.html of `cascade compare`: each run against the first."""

    page_dir = page_path.parent
    names = [r["name"] for r in compared["runs"]]
    # `paired` holds each later run against the first, scorer by scorer, in run order.
    pairs = [
        Pair(
            p["scorer"],
            p["run"],
            p["base"],
            _flips(
                {"wrong_to_right": p["to_correct"], "right_to_wrong": p["to_wrong"]},
                run_dirs[1 + index // len(SCORERS)],
                run_dirs[0],
                page_dir,
            ),
        )
        for index, p in enumerate(compared["paired"])
    ]
    return render(
        "compare.html.j2",
        title="Comparison of runs",
        subtitle=f"{len(names)} runs; the first, {names[0]}, is the base",
        scorer="strict",
        scorers=SCORERS,
        accuracy=comparison.accuracy_table(compared),
        paired=comparison.paired_table(compared),
        alpha=compared["alpha"],
        comparisons=compared["comparisons"],
        charts={s: _compare_charts(compared, s) for s in SCORERS},
        pairs=pairs,
        runs=[_link(d, page_dir, n) for n, d in zip(names, run_dirs, strict=True)],
    )


@dataclass(frozen=True)
class ComparePage:
    """The page of `cascade compare --html PATH`: one self-contained file whose links reach each
    run's report.html by a path relative to the page, so it is written only through here."""

    path: Path

    def write(self, compared: dict[str, Any], paths: Sequence[Path]) -> Path:
        """The page of `compared` (`analysis.compare.compare`) over the compared `paths`; a
        predictions file among them has no run page to link to."""
        run_dirs = [p if p.is_dir() else None for p in paths]
        write_atomic(self.path, compare_page(compared, run_dirs, self.path))
        return self.path


def write_sweep_report(sweep: Sweep, outcomes: Sequence[Outcome], results: SweepResults) -> Path:
    """Write the report.html of a sweep whose tables `ablate.finish` wrote."""
    html = sweep.files.report_html_path
    page = sweep_page(
        sweep.name,
        results.table,
        results.flips,
        results.summaries,
        {o.variation: o.run_dir for o in outcomes},
        html,
        alpha=sweep.spec.alpha,
        scorer=sweep.spec.scorer,
        text_only=results.text_only,
        doses=results.doses,
    )
    return sweep.files.write_report_html(page)
