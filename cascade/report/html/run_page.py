"""report.html for a run, a comparison and a sweep: one self-contained file each.

Everything is inline (stylesheet, script, SVG charts), so a report opens from disk with no server
and no network. A run's page shows its headline figures, accuracy by modality and layer with 95%
intervals and the random-guess line, the confusion of chosen against correct option position, and
every item (audio player, question, choices, description, prompt, reasoning, answer), filterable
by outcome under each scorer, by modality and layer, and by text; the filter lives in the URL
hash (`report.html#scorer=strict&outcome=wrong&modality=speech`).
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import pandas as pd

from cascade.analysis import judge
from cascade.core import Cache, Item, messages_hash, prompts
from cascade.report.html import svg
from cascade.report.html.assets import CSS, SCRIPT
from cascade.report.tables import group_table, headline_table, notices
from cascade.run import (
    CONFIG,
    RESULTS,
    Perturbation,
    RunDir,
    render_request,
    stored_sentence,
)
from cascade.scoring import INVALID_BY, SCORERS, ItemResult, option_letters, score_answer

EMBED_LIMIT = 256 * 1024
"""Clips up to this size are embedded (base64), so a small report plays anywhere."""
EMBED_BUDGET = 24 * 1024 * 1024
"""At most this much audio is embedded per page; larger clips are linked by path."""
MIME = {
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".m4a": "audio/mp4",
    ".opus": "audio/ogg",
}
GROUP_TITLES = {"modality": "modality", "category": "layer"}


def page(
    title: str,
    subtitle: str,
    sections: Sequence[str],
    *,
    script: bool = False,
    scorer: str = "strict",
) -> str:
    """A whole HTML document around the given sections (`scorer`: the first one shown)."""
    return "".join(page_parts(title, subtitle, sections, script=script, scorer=scorer))


def page_parts(
    title: str,
    subtitle: str,
    sections: Sequence[str],
    *,
    script: bool = False,
    scorer: str = "strict",
) -> list[str]:
    """The document of `page` as parts in order, for writing a large page without joining it."""
    code = f"<script>{SCRIPT.replace('__SCORER__', scorer)}</script>" if script else ""
    head = (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>{escape(title)}</h1><div class='meta'>{subtitle}</div></header><main>"
    )
    body = [part for index, s in enumerate(sections) for part in (("\n", s) if index else (s,))]
    return [head, *body, f"</main>{code}</body></html>\n"]


def table_html(frame: pd.DataFrame, *, scroll: bool = False) -> str:
    if frame.empty:
        return "<p class='note'>(no rows)</p>"
    html = frame.to_html(index=False, classes="data", border=0, escape=True, na_rep="")
    return f"<div class='scroll'>{html}</div>" if scroll else html


def section(title: str, *content: str, anchor: str = "") -> str:
    ident = f" id='{escape(anchor)}'" if anchor else ""
    return f"<section{ident}><h2>{escape(title)}</h2>{''.join(content)}</section>"


# --- charts from metrics ------------------------------------------------------------------------


def group_chart(metrics: Mapping[str, Any], key: str, scorer: str) -> str:
    by = metrics["scorers"][scorer]["by"].get(key, {})
    groups = [
        svg.Group(
            label=value,
            bars=(svg.Bar(scorer, g["accuracy"], g["ci95"][0], g["ci95"][1], note=f"n={g['n']}"),),
            reference=g["random_expectation"],
        )
        for value, g in by.items()
    ]
    overall = metrics["scorers"][scorer]["overall"]
    if overall:
        groups.append(
            svg.Group(
                "all items",
                (
                    svg.Bar(
                        scorer,
                        overall["accuracy"],
                        overall["ci95"][0],
                        overall["ci95"][1],
                        note=f"n={overall['n']}",
                    ),
                ),
                overall["random_expectation"],
            )
        )
    return svg.interval_chart(
        groups, title=f"Accuracy by {GROUP_TITLES.get(key, key)} ({scorer}), 95% intervals"
    )


# --- one run ------------------------------------------------------------------------------------


@dataclass
class RunView:
    """What a run page shows, loaded from a run directory."""

    run_dir: Path
    name: str
    benchmark: str
    items: list[Item]
    results: dict[str, dict[str, Any]]
    metrics: dict[str, Any]
    summary: dict[str, Any]
    config: Any = None
    """The resolved RunConfig, when the run directory has one."""
    notes: list[str] = field(default_factory=list)


def load_run_view(run_dir: Path) -> RunView:
    """A run directory's config, items (with audio paths), results, metrics and summary."""

    run = RunDir(run_dir)
    run.require(CONFIG, RESULTS)
    config, results, metrics = run.config(), run.results(), run.metrics()
    summary = run.summary()
    kept = [i for i in run.items(config) if i.id in results]
    return RunView(
        run_dir, config.name, metrics.get("benchmark", ""), kept, results, metrics, summary, config
    )


@dataclass
class Embedder:
    """Audio sources for one page: embedded while small and within budget, else a path."""

    page_dir: Path
    budget: int = EMBED_BUDGET
    limit: int = EMBED_LIMIT

    def source(self, path: Path | None) -> str | None:
        if path is None or not path.is_file():
            return None
        size = path.stat().st_size
        mime = MIME.get(path.suffix.lower(), "audio/wav")
        if size <= self.limit and size <= self.budget:
            self.budget -= size
            data = base64.b64encode(path.read_bytes()).decode("ascii")
            return f"data:{mime};base64,{data}"
        try:
            return Path(os.path.relpath(path, self.page_dir)).as_posix()
        except ValueError:  # another drive (Windows): an absolute file URI
            return path.resolve().as_uri()


def _player(source: str | None, label: str) -> str:
    if source is None:
        return f"<p class='note'>{escape(label)}: audio not available on this machine</p>"
    return (
        f"<div><span class='note'>{escape(label)}</span><br>"
        f"<audio controls preload='none' src='{escape(source, quote=True)}'></audio></div>"
    )


@dataclass(frozen=True)
class ItemStatus:
    outcome: dict[str, str]
    """Per scorer: correct, wrong, invalid (nothing chosen) or error (no answer)."""
    chosen: dict[str, int | None]
    """Per extraction: the chosen option's index."""


def item_status(item: Item, result: ItemResult) -> ItemStatus:
    scored = score_answer(item, result)
    outcome = {}
    for scorer in SCORERS:
        if result.error is not None:
            outcome[scorer] = "error"
        elif scored.correct[scorer]:
            outcome[scorer] = "correct"
        elif scored.invalid[INVALID_BY[scorer]]:
            outcome[scorer] = "invalid"
        else:
            outcome[scorer] = "wrong"
    chosen = {m: (e.index if e is not None else None) for m, e in scored.extractions.items()}
    return ItemStatus(outcome, chosen)


def confusion_chart(view: RunView, method: str) -> str:
    """Chosen option position against the correct one (items with up to six options)."""
    width = min(6, max((len(i.choices) for i in view.items), default=2))
    letters = option_letters(width)
    columns = [*letters, "none"]
    counts = [[0] * len(columns) for _ in letters]
    for item in view.items:
        if len(item.choices) > width:
            continue
        status = item_status(item, ItemResult.from_json(view.results[item.id]))
        index = status.chosen[method]
        column = index if index is not None and index < width else len(letters)
        counts[item.answer_index][column] += 1
    return svg.heatmap(
        counts,
        rows=letters,
        columns=columns,
        title=f"Chosen vs correct option ({method} extraction)",
        row_title="correct",
        column_title="chosen",
    )


def _prompt_text(view: RunView, item: Item, result: ItemResult) -> str:
    """The answering prompt, re-rendered and checked against the hash the run recorded."""
    if view.config is None or result.description is None:
        return ""

    try:
        request = render_request(item, result.description, prompts.load(view.config.prompts.answer))
    except Exception as error:
        return f"(cannot re-render the prompt: {error})"
    text = "\n\n".join(f"[{m.role}]\n{m.content}" for m in request.messages)
    if result.prompt_hash and messages_hash(request.messages) != result.prompt_hash:
        return "(the prompt template changed since this run; today's rendering:)\n\n" + text
    return text


def item_card(view: RunView, item: Item, embed: Embedder, heard: Path | None) -> str:
    result = ItemResult.from_json(view.results[item.id])
    status = item_status(item, result)
    chosen = status.chosen.get("lenient")
    letters = option_letters(len(item.choices))
    choices = "".join(
        "<li class='{}'>{}{}</li>".format(
            " ".join(
                c for c, on in (("answer", k == item.answer_index), ("chosen", k == chosen)) if on
            ),
            escape(f"({letters[k]}) {text}"),
            "<span class='mark'>✓ answer</span>" * (k == item.answer_index)
            + "<span class='mark'>← chosen</span>" * (k == chosen),
        )
        for k, text in enumerate(item.choices)
    )
    audio = _player(embed.source(item.audio), "the clip")
    if heard is not None and heard != item.audio:
        audio += _player(embed.source(heard), "what the front-end heard (ablation)")
    blocks = [
        f"<div>{audio}<h3>Question</h3><p>{escape(item.question)}</p>"
        f"<ul class='choices'>{choices}</ul></div>",
        "<div><dl class='kv'>"
        + "".join(
            f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>"
            for k, v in (
                ("modality", item.modality),
                ("layer", item.category),
                ("sub-category", item.sub_category),
                ("language", item.language or "–"),
                ("answer", item.answer),
                ("chosen (lenient)", item.choices[chosen] if chosen is not None else "–"),
                *((s, status.outcome[s]) for s in SCORERS),
                ("finish", result.finish_reason or "–"),
            )
        )
        + "</dl>"
        + (f"<h3>Error</h3><pre>{escape(result.error)}</pre>" if result.error else "")
        + "</div>",
        f"<div class='full'><h3>Description</h3><pre>{escape(result.description or '–')}</pre>"
        f"<details><summary>Prompt</summary><pre>{escape(_prompt_text(view, item, result))}</pre>"
        "</details>"
        + (
            f"<h3>Reasoning</h3><pre>{escape(result.reasoning)}</pre>"
            if result.reasoning.strip()
            else ""
        )
        + f"<h3>Answer</h3><pre>{escape(result.raw_answer or '–')}</pre></div>",
    ]
    search = " ".join([item.id, item.question, *item.choices, result.description or ""]).lower()
    data = " ".join(f"data-{s}='{status.outcome[s]}'" for s in SCORERS)
    first = status.outcome["strict"]
    return (
        f"<details class='item' id='item-{escape(item.id, quote=True)}' {data} "
        f"data-modality='{escape(item.modality, quote=True)}' "
        f"data-category='{escape(item.category, quote=True)}' "
        f"data-text='{escape(search, quote=True)}'>"
        f"<summary><span class='badge {first}'>{first}</span>"
        f"<span class='id'>{escape(item.id)}</span>"
        f"<span class='q'>{escape(item.question)}</span>"
        f"<span class='tag'>{escape(item.modality)}</span>"
        f"<span class='tag'>{escape(item.category)}</span></summary>"
        f"<div class='body'>{''.join(blocks)}</div></details>"
    )


def _controls(items: Sequence[Item]) -> str:
    outcome = "".join(
        f"<button type='button' data-outcome='{o}'>{o}</button>"
        for o in ("all", "correct", "wrong", "invalid", "error")
    )
    selects = []
    for key, title in GROUP_TITLES.items():
        values = sorted({getattr(i, key) for i in items})
        options = "".join(f"<option>{escape(v)}</option>" for v in values)
        selects.append(
            f"<label>{title} <select data-group='{key}'><option value='all'>all</option>"
            f"{options}</select></label>"
        )
    scorers = "".join(f"<option>{s}</option>" for s in SCORERS)
    return (
        "<div class='controls'>"
        f"<label>scorer <select id='scorer'>{scorers}</select></label>"
        f"<span class='seg'>{outcome}</span>{''.join(selects)}"
        "<label>search <input id='search' type='search' placeholder='id, words…'></label>"
        "<span id='shown'></span></div>"
    )


def _heard_paths(view: RunView) -> dict[str, Path | None]:
    """The clip each item's front-end heard, when an ablation replaced the audio."""
    config = view.config
    if config is None or config.audio.replace == "none" or not config.captioners:
        return {}

    perturbation = Perturbation(config, view.items, Cache(config.cache_dir).root)
    return {item.id: perturbation.audio(item, make=False) for item in view.items}


def _run_subtitle(view: RunView) -> str:
    metrics, summary = view.metrics, view.summary
    parts = [
        f"{metrics['n_items']} items scored",
        f"{metrics['errors']} errors",
        f"{metrics['truncated']} truncated",
    ]
    config = view.config
    if config is not None:
        stages = ", ".join(c.stage for c in config.captioners) or "none (text only)"
        if config.description.source == "oracle":
            stages = f"oracle ({config.description.oracle_template})"
        parts += [
            f"front-end: {stages}",
            f"reasoner: {config.reasoner.preset or config.reasoner.name}",
            f"prompt: {config.prompts.answer}",
        ]
        if config.audio.replace != "none":
            parts.append(f"audio replaced by {config.audio.replace}")
    stages_done = summary.get("stages") or {}
    answers = summary.get("reasoner") or {}
    if summary:
        parts.append(
            f"stage outputs computed {stages_done.get('computed', 0)} / re-used "
            f"{stages_done.get('reused', 0)}; answers computed {answers.get('computed', 0)} / "
            f"re-used {answers.get('reused', 0)}"
        )
    return escape(" · ".join(parts))


def _claim_note(summary: Mapping[str, Any]) -> str:
    """The published row the run reproduces, or the settings that drop its claim."""

    line = stored_sentence(summary)
    return "" if line is None else f"<p class='note claim'>{escape(line)}</p>"


def _rubric_sections(run_dir: Path) -> list[str]:
    """The rubric scores of every judge that scored this run (judge-*.json), beside accuracy."""

    found = []
    for file_name, record in RunDir(run_dir).judge_records():
        frame = pd.DataFrame(record.get("groups") or [])
        if frame.empty:
            continue
        shown = judge.display_table(frame)
        found.append(
            section(
                f"Rubric scores by {record.get('judge')}",
                table_html(shown),
                f"<p class='note'>{record.get('samples')} judge samples per item, middle three "
                f"averaged; prompt {escape(str(record.get('prompt')))}. Details: "
                f"{escape(file_name)}.</p>",
            )
        )
    return found


def _notice_sections(view: RunView) -> list[str]:
    """What the reader must know before any number (see `report.notices`)."""
    found = notices(view.metrics, view.summary)
    if not found:
        return []
    shown = "".join(f"<p class='note'><strong>{escape(n)}</strong></p>" for n in found)
    return [section("Read this first", shown, anchor="notices")]


def run_page_parts(view: RunView, page_path: Path) -> list[str]:
    """report.html in parts: each item card stays its own part (embedded audio is large)."""
    metrics = view.metrics
    charts = []
    for scorer in SCORERS:
        charts.append(
            f"<div data-for-scorer='{scorer}' class='charts'>"
            + group_chart(metrics, "modality", scorer)
            + group_chart(metrics, "category", scorer)
            + confusion_chart(view, INVALID_BY[scorer])
            + "</div>"
        )
    embed = Embedder(page_path.parent)
    heard = _heard_paths(view)
    cards = [item_card(view, i, embed, heard.get(i.id)) for i in view.items]
    scoring = metrics["scoring"]
    sections = [
        *_notice_sections(view),
        section(
            "Headline",
            table_html(headline_table(metrics)),
            "<p class='note'>* = better than random guessing (one-sided exact Poisson-binomial, "
            f"alpha {scoring['alpha']} / {scoring['family_size']}); intervals {scoring['ci']}, "
            "95%. Errors and unparseable answers count as wrong.</p>",
            _claim_note(view.summary),
        ),
        section(
            "Plots",
            "<p class='note'>Shown for the scorer picked in the Items section. The dashed red "
            "tick is the random-guess expectation of each group's items; whiskers are 95% "
            "intervals.</p>",
            *charts,
        ),
        section(
            "By modality and layer",
            "<h3>By modality</h3>",
            table_html(group_table(metrics, "modality")),
            "<h3>By layer</h3>",
            table_html(group_table(metrics, "category")),
        ),
        *_rubric_sections(view.run_dir),
    ]
    # The Items section is opened and closed around the cards, which stay separate parts.
    items = section("Items", _controls(view.items), "<div id='items'>\0</div>", anchor="items")
    items_open, items_close = items.split("\0")
    title = f"{view.name} on {view.benchmark}"
    parts = page_parts(title, _run_subtitle(view), [*sections, items_open], script=True)
    return [*parts[:-1], *cards, items_close, parts[-1]]


def write_run_report(run_dir: Path) -> Path:
    """Write report.html into a finished run directory."""

    run = RunDir(run_dir)
    return run.write_report_html(run_page_parts(load_run_view(run_dir), run.report_html_path))
