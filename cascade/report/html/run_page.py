"""report.html of a run: what its page shows, gathered here and rendered by
templates/run_page.html.j2 (one item card at a time, templates/item_card.html.j2).

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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from markupsafe import Markup

from cascade.analysis import judge
from cascade.core import Cache, CascadeError, Item, messages_hash, prompts
from cascade.report.html import svg
from cascade.report.html.render import stream
from cascade.report.rubrics import ItemRubrics, RubricsView, published_table, rubrics_views
from cascade.report.tables import cost_sentence, group_table, headline_table, notices
from cascade.run import (
    CONFIG,
    RESULTS,
    Perturbation,
    RunDir,
    render_request,
    stored_sentence,
)
from cascade.scoring import (
    PREDICTION_READING,
    PRIMARY,
    ItemResult,
    option_letters,
    score_answer,
    scorers,
)

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


# --- charts from metrics ------------------------------------------------------------------------


def group_chart(metrics: Mapping[str, Any], key: str, scorer: str) -> Markup:
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
    cues: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Each item's cue coverage record by id, from the run's first cue file (lexical first)."""
    cues_measure: str | None = None


def load_cues(run: RunDir) -> tuple[str | None, dict[str, dict[str, Any]]]:
    """The measure and item records of the run's first readable `cues-<measure>.json`; a file
    that cannot be read is skipped here (report.md names it)."""
    for path in run.cue_files():
        try:
            record = run.read_cues(path.name)
            return str(record["measure"]), {i["id"]: i for i in record["items"]}
        except (OSError, ValueError, KeyError, TypeError, CascadeError):
            continue
    return None, {}


def load_run_view(run_dir: Path) -> RunView:
    """A run directory's config, items (with audio paths), results, metrics and summary."""

    run = RunDir(run_dir)
    run.require(CONFIG, RESULTS)
    config, results, metrics = run.config(), run.results(), run.metrics()
    summary = run.summary()
    kept = [i for i in run.items(config) if i.id in results]
    measure, cues = load_cues(run)
    return RunView(
        run_dir,
        config.name,
        metrics.get("benchmark", ""),
        kept,
        results,
        metrics,
        summary,
        config,
        cues=cues,
        cues_measure=measure,
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


@dataclass(frozen=True)
class ItemStatus:
    outcome: dict[str, str]
    """Per scorer: correct, wrong, invalid (nothing chosen) or error (no answer)."""
    chosen: dict[str, int | None]
    """Per extraction: the chosen option's index."""


def item_status(item: Item, result: ItemResult) -> ItemStatus:
    scored = score_answer(item, result)
    outcome = {}
    for row in scorers():
        if result.error is not None:
            outcome[row.name] = "error"
        elif scored.correct[row.name]:
            outcome[row.name] = "correct"
        elif scored.invalid[row.invalid_when]:
            outcome[row.name] = "invalid"
        else:
            outcome[row.name] = "wrong"
    chosen = {m: (e.index if e is not None else None) for m, e in scored.extractions.items()}
    return ItemStatus(outcome, chosen)


def confusion_chart(view: RunView, method: str) -> Markup:
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
    """The answering prompt, re-rendered and checked against the hash the run recorded (an
    agent run's: its first request, as the trace holds it)."""
    if result.agent is not None:
        steps = result.agent.get("steps") or [{}]
        first = steps[0].get("request") or []
        return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in first)
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


@dataclass(frozen=True)
class Player:
    source: str | None
    """Embedded data or a relative path; None when the clip is not on this machine."""
    label: str


@dataclass(frozen=True)
class Choice:
    letter: str
    text: str
    answer: bool
    chosen: bool

    @property
    def classes(self) -> list[str]:
        return [c for c, on in (("answer", self.answer), ("chosen", self.chosen)) if on]


@dataclass(frozen=True)
class Cue:
    """A cue the item's description should carry, and whether it does."""

    text: str
    covered: bool | None
    """None: unknown (no verdict could be had)."""
    stages: tuple[str, ...] = ()
    """The front-end stages whose text conveys the cue."""

    @property
    def state(self) -> str:
        return {True: "covered", False: "missing", None: "unknown"}[self.covered]


@dataclass(frozen=True)
class Card:
    """What the item card of a run page shows (templates/item_card.html.j2)."""

    item: Item
    result: ItemResult
    outcome: dict[str, str]
    players: list[Player]
    choices: list[Choice]
    facts: list[tuple[str, str]]
    prompt: str
    search: str
    """Lower-cased text the page's search box matches."""
    cues: Sequence[Cue] | None = None
    """Shown under the description when given."""
    cues_measure: str | None = None
    cause: str | None = None
    """Why a wrong answer was wrong (`cascade cues`), with the reason."""
    rubrics: Sequence[ItemRubrics] = ()
    """The item under each MMAR-Rubrics judge: gate verdict, raters, trimmed mean."""


def _cues(view: RunView, item: Item) -> tuple[list[Cue] | None, str | None]:
    record = view.cues.get(item.id)
    if record is None or not record.get("cues"):
        return None, None
    cues = [Cue(c["cue"], c["covered"], tuple(c.get("stages") or ())) for c in record["cues"]]
    cause = record.get("cause")
    return cues, f"{cause}: {record.get('reason', '')}" if cause else None


def item_card(
    view: RunView,
    item: Item,
    embed: Embedder,
    heard: Path | None,
    rubrics: Sequence[RubricsView] = (),
) -> Card:
    result = ItemResult.from_json(view.results[item.id])
    status = item_status(item, result)
    chosen = status.chosen.get(PREDICTION_READING)
    letters = option_letters(len(item.choices))
    players = [Player(embed.source(item.audio), "the clip")]
    if heard is not None and heard != item.audio:
        players.append(Player(embed.source(heard), "what the front-end heard (ablation)"))
    facts = [
        ("modality", item.modality),
        ("layer", item.category),
        ("sub-category", item.sub_category),
        ("language", item.language or "–"),
        ("answer", item.answer),
        (f"chosen ({PREDICTION_READING})", item.choices[chosen] if chosen is not None else "–"),
        *status.outcome.items(),
        ("finish", result.finish_reason or "–"),
    ]
    cues, cause = _cues(view, item)
    return Card(
        item=item,
        result=result,
        outcome=status.outcome,
        players=players,
        choices=[
            Choice(letters[k], text, k == item.answer_index, k == chosen)
            for k, text in enumerate(item.choices)
        ],
        facts=[(key, str(value)) for key, value in facts],
        prompt=_prompt_text(view, item, result),
        search=" ".join([item.id, item.question, *item.choices, result.description or ""]).lower(),
        cues=cues,
        cues_measure=view.cues_measure,
        cause=cause,
        rubrics=[r.items[item.id] for r in rubrics if item.id in r.items],
    )


def _heard_paths(view: RunView) -> dict[str, Path | None]:
    """The clip each item's front-end heard, when an ablation replaced the audio."""
    config = view.config
    if config is None or config.audio.replace == "none" or not config.captioners:
        return {}

    # The substitutes are drawn over every item of the run's benchmark, as the run drew them,
    # not over the items scored so far (a partial run would get another shuffle).
    perturbation = Perturbation(
        config, RunDir(view.run_dir).items(config), Cache(config.cache_dir).root
    )
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
    return " · ".join(parts)


@dataclass(frozen=True)
class Rubric:
    """The rubric scores one judge gave this run (its judge-*.json)."""

    judge: str
    table: pd.DataFrame
    samples: Any
    prompt: str
    file: str


def _rubrics(run_dir: Path) -> list[Rubric]:
    """The rubric scores of every judge that scored this run (judge-*.json), beside accuracy."""

    found = []
    for file_name, record in RunDir(run_dir).judge_records():
        frame = pd.DataFrame(record.get("groups") or [])
        if frame.empty:
            continue
        found.append(
            Rubric(
                judge=str(record.get("judge")),
                table=judge.display_table(frame),
                samples=record.get("samples"),
                prompt=str(record.get("prompt")),
                file=file_name,
            )
        )
    return found


@dataclass(frozen=True)
class FilterGroup:
    key: str
    title: str
    values: list[str]


def run_page_parts(view: RunView, page_path: Path) -> Iterator[str]:
    """report.html in parts, in order: the item cards are built and rendered one at a time as
    the parts are consumed (embedded audio is large), so the page is never whole in memory."""
    metrics = view.metrics
    rows = scorers()
    charts = {
        row.name: [
            group_chart(metrics, "modality", row.name),
            group_chart(metrics, "category", row.name),
            confusion_chart(view, row.invalid_when),
        ]
        for row in rows
    }
    embed = Embedder(page_path.parent)
    heard = _heard_paths(view)
    rubrics = rubrics_views(RunDir(view.run_dir))
    cards = (item_card(view, i, embed, heard.get(i.id), rubrics) for i in view.items)
    return stream(
        "run_page.html.j2",
        title=f"{view.name} on {view.benchmark}",
        subtitle=_run_subtitle(view),
        scorer=PRIMARY,
        scorers=[row.name for row in rows],
        notices=notices(view.metrics, view.summary),
        headline=headline_table(metrics),
        scoring=metrics["scoring"],
        claim=stored_sentence(view.summary),
        cost=cost_sentence(view.summary),
        charts=charts,
        by_modality=group_table(metrics, "modality"),
        by_layer=group_table(metrics, "category"),
        rubrics=_rubrics(view.run_dir),
        mmar_rubrics=rubrics,
        published=published_table() if rubrics else None,
        groups=[
            FilterGroup(key, title, sorted({getattr(i, key) for i in view.items}))
            for key, title in GROUP_TITLES.items()
        ],
        cards=cards,
    )


def write_run_report(run_dir: Path) -> Path:
    """Write report.html into a finished run directory."""

    run = RunDir(run_dir)
    return run.write_report_html(run_page_parts(load_run_view(run_dir), run.report_html_path))
