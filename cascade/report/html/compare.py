"""report.html for a comparison of runs and for a sweep: tables, difference plots, flipped items.

Both pages link every run to its own report.html (whose items can be opened by URL hash,
`report.html#item=<id>`), so a flipped item is one click from its audio, description and answer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from cascade.analysis import DOSE_KEYS, Outcome, Sweep, SweepResults, sweep_table
from cascade.analysis import compare as comparison
from cascade.core import write_atomic
from cascade.report.html import svg
from cascade.report.html.run_page import (
    GROUP_TITLES,
    REPORT_HTML,
    page,
    section,
    table_html,
)
from cascade.scoring import SCORERS


def _link(run_dir: Path | None, page_dir: Path, text: str, item: str | None = None) -> str:
    if run_dir is None or not (run_dir / REPORT_HTML).is_file():
        return escape(text)
    href = Path(os.path.relpath(run_dir / REPORT_HTML, page_dir)).as_posix()
    if item is not None:
        href += f"#item={item}"
    return f"<a href='{escape(href, quote=True)}'>{escape(text)}</a>"


def _scorer_picker(chosen: str = "strict") -> str:
    options = "".join(f"<option{' selected' if s == chosen else ''}>{s}</option>" for s in SCORERS)
    return (
        f"<div class='controls'><label>scorer <select id='scorer'>{options}</select></label></div>"
    )


def _flip_list(
    flips: Mapping[str, Sequence[str]], run_dir: Path | None, base_dir: Path | None, page_dir: Path
) -> str:
    rows = []
    for key, title in (("wrong_to_right", "wrong → right"), ("right_to_wrong", "right → wrong")):
        ids = flips.get(key) or []
        links = ", ".join(
            f"{_link(run_dir, page_dir, i, i)} ({_link(base_dir, page_dir, 'base', i)})"
            for i in ids
        )
        rows.append(f"<dt>{title} ({len(ids)})</dt><dd>{links or '–'}</dd>")
    return f"<dl class='kv'>{''.join(rows)}</dl>"


# --- sweep -------------------------------------------------------------------------------------


def _value(record: Mapping[str, Any], key: str) -> float | None:
    value = record.get(key)
    return None if value is None or pd.isna(value) else float(value)


def dose_charts(doses: pd.DataFrame, scorer: str) -> str:
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
    return "".join(charts)


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
    charts = []
    for scorer in SCORERS:
        rows = overall[overall["scorer"] == scorer].to_dict("records")
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
        charts.append(f"<div class='charts' data-for-scorer='{scorer}'>{deltas}{accuracy}</div>")
    shown = sweep_table.display_table(table).drop(columns=["scorer"])
    by_scorer = [
        f"<div data-for-scorer='{scorer}'>"
        + table_html(shown[(table["scorer"] == scorer) & (table["group"] == "all")], scroll=True)
        + "<details><summary>By group</summary>"
        + table_html(shown[(table["scorer"] == scorer) & (table["group"] != "all")], scroll=True)
        + "</details></div>"
        for scorer in SCORERS
    ]
    flip_sections = []
    for scorer in SCORERS:
        unchanged = []
        blocks = []
        for variation in variations[1:]:
            found = flips.get(variation, {}).get(scorer, {})
            if not found.get("wrong_to_right") and not found.get("right_to_wrong"):
                unchanged.append(variation)
                continue
            blocks.append(
                f"<h3>{escape(variation)}</h3>"
                + _flip_list(found, run_dirs.get(variation), run_dirs.get(base), page_dir)
            )
        if unchanged:
            blocks.append(
                "<p class='note'>No item flipped in: " + escape(", ".join(unchanged)) + "</p>"
            )
        flip_sections.append(f"<div data-for-scorer='{scorer}'>{''.join(blocks)}</div>")
    links = "".join(
        f"<li>{_link(run_dirs.get(v), page_dir, v)}"
        + (
            f" <span class='note'>failed: {escape(str(summaries[v]['error']))}</span>"
            if summaries.get(v, {}).get("error")
            else ""
        )
        + "</li>"
        for v in summaries
    )
    m = max(1, len(variations) - 1)
    sections = [
        _scorer_picker(scorer),
        section("Differences from the base", *charts),
        *(
            [
                section(
                    "Dose-response",
                    *(
                        f"<div class='charts' data-for-scorer='{name}'>"
                        f"{dose_charts(doses, name)}</div>"
                        for name in SCORERS
                    ),
                )
            ]
            if doses is not None and not doses.empty
            else []
        ),
        section(
            "Results",
            "<p class='note'>Differences are against the base on the items both answered; p: "
            f"exact two-sided McNemar; p × m: Bonferroni for m = {m}; sig.: p × m &lt; {alpha}. "
            "Errors and unparseable answers count as wrong.</p>",
            *by_scorer,
        ),
        *(
            section(
                f"Answered right without hearing anything ({variation})",
                *(
                    f"<div data-for-scorer='{name}'><p>"
                    + (
                        ", ".join(
                            _link(run_dirs.get(variation), page_dir, i, i)
                            for i in flips.get(variation, {}).get(name, {}).get("correct", [])
                        )
                        or "(none)"
                    )
                    + "</p></div>"
                    for name in SCORERS
                ),
            )
            for variation in text_only
        ),
        section("Flipped items", *flip_sections),
        section(
            "Runs",
            f"<ul>{links}</ul>",
            "<h3>Work done by this invocation</h3>",
            table_html(sweep_table.work_table(summaries)),
        ),
    ]
    subtitle = escape(
        f"{len(variations)} runs: the base ({base}) and {len(variations) - 1} variation(s); "
        f"alpha {alpha}, Bonferroni over {m}"
    )
    return page(f"Sweep {name}", subtitle, sections, script=True, scorer=scorer)


# --- comparison --------------------------------------------------------------------------------


def compare_page(compared: dict[str, Any], run_dirs: Sequence[Path | None], page_path: Path) -> str:
    """The report.html of `cascade compare`: each run against the first."""

    page_dir = page_path.parent
    runs = compared["runs"]
    names = [r["name"] for r in runs]
    charts = []
    for scorer in SCORERS:
        blocks = []
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
            blocks.append(
                svg.interval_chart(
                    groups,
                    title=f"Accuracy by {GROUP_TITLES[key]} ({scorer})",
                    series=names,
                )
            )
        pairs = [p for p in compared["paired"] if p["scorer"] == scorer]
        blocks.insert(
            0,
            svg.delta_chart(
                [svg.Delta(p["run"], p["difference"], bool(p["significant"])) for p in pairs],
                title=f"Difference from {names[0]} ({scorer})",
            ),
        )
        charts.append(f"<div class='charts' data-for-scorer='{scorer}'>{''.join(blocks)}</div>")
    # `paired` holds each later run against the first, scorer by scorer, in run order.
    flips = "".join(
        f"<div data-for-scorer='{p['scorer']}'><h3>{escape(p['run'])} vs "
        f"{escape(p['base'])}</h3>"
        + _flip_list(
            {"wrong_to_right": p["to_correct"], "right_to_wrong": p["to_wrong"]},
            run_dirs[1 + index // len(SCORERS)],
            run_dirs[0],
            page_dir,
        )
        + "</div>"
        for index, p in enumerate(compared["paired"])
    )
    links = "".join(
        f"<li>{_link(d, page_dir, n)}</li>" for n, d in zip(names, run_dirs, strict=True)
    )
    sections = [
        _scorer_picker(),
        section(
            "Accuracy",
            table_html(comparison.accuracy_table(compared)),
            "<h3>Paired against the first run</h3>",
            table_html(comparison.paired_table(compared)),
            "<p class='note'>Exact two-sided McNemar tests on the items both runs answered; "
            f"significant at alpha {compared['alpha']} / {compared['comparisons']} "
            "(Bonferroni).</p>",
        ),
        section("Plots", *charts),
        section("Flipped items", flips),
        section("Runs", f"<ul>{links}</ul>"),
    ]
    subtitle = escape(f"{len(runs)} runs; the first, {names[0]}, is the base")
    return page("Comparison of runs", subtitle, sections, script=True)


def write_sweep_report(sweep: Sweep, outcomes: Sequence[Outcome], results: SweepResults) -> Path:
    """Write the report.html of a sweep whose tables `ablate.finish` wrote."""
    html = sweep.folder / REPORT_HTML
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
    write_atomic(html, page)
    return html
