"""report.html of a run, a comparison and a sweep: self-contained, complete, and filterable in a
real browser (Debian's chromium, headless)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from typer.testing import CliRunner

from cascade import commands
from cascade.analysis import compare as comparing
from cascade.analysis import sweep_table
from cascade.cli import app
from cascade.core import Item
from cascade.report import Embedder, compare_page, sweep_page, write_run_report
from cascade.report.html import render, run_page, svg
from cascade.run import rescore
from tests.conftest import ITEMS, MakeConfig, correct_letter

# speech-yes: invalid (no answer line), music-mood: wrong, mix-6: error, the rest right.
SCRIPT = {i[0]: f"Because.\nANSWER: {correct_letter(i[0])}" for i in ITEMS} | {
    "speech-yes": "I cannot tell.",
    "music-mood": "ANSWER: A",
}
EXPECTED = {
    "tone-440": "correct",
    "tone-880": "correct",
    "speech-yes": "invalid",
    "music-mood": "wrong",
    "mix-6": "error",
    "speech-count": "correct",
}


class Items(HTMLParser):
    """The item cards, audio sources, SVG charts and external references of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.items: list[dict[str, str]] = []
        self.hidden: list[str] = []
        self.audio: list[str] = []
        self.svg = 0
        self.external: list[str] = []
        self.links: list[str] = []
        self.scoped: list[tuple[str, bool]] = []
        """(scorer, hidden) of every block shown for one scorer only."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "details" and "item" in found.get("class", "").split():
            self.items.append(found)
            if "hidden" in found.get("class", "").split():
                self.hidden.append(found["id"].removeprefix("item-"))
        if tag == "audio":
            self.audio.append(found.get("src", ""))
        if tag == "svg":
            self.svg += 1
        if "data-for-scorer" in found:
            self.scoped.append((found["data-for-scorer"], "hidden" in found.get("class", "")))
        if tag == "a":
            self.links.append(found.get("href", ""))
        for key in ("src", "href"):
            if re.match(r"(https?:)?//", found.get(key, "")):
                self.external.append(found[key])
        if tag in ("link", "iframe", "img") or (tag == "script" and "src" in found):
            self.external.append(tag)


def parse(html: str) -> Items:
    parser = Items()
    parser.feed(html)
    return parser


@pytest.fixture
def run_dir(make_config: MakeConfig) -> Path:
    config = make_config(
        reasoner={
            "name": "scripted",
            "config": {
                "answers": SCRIPT,
                "errors": {"mix-6": "HTTP 500"},
                "reasoning": "thinking <b>hard</b>",
            },
        }
    )
    return commands.run(config).run_dir


def test_run_report_is_self_contained_and_shows_every_item(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    page = parse(html)

    assert page.external == []
    assert page.svg == 9  # per scorer: by modality, by layer, confusion
    assert {i["id"].removeprefix("item-"): i["data-strict"] for i in page.items} == EXPECTED
    assert {i["data-official"] for i in page.items if i["id"] == "item-speech-yes"} == {"invalid"}
    assert all(src.startswith("data:audio/wav;base64,") for src in page.audio)
    assert len(page.audio) == 6
    assert "thinking &lt;b&gt;hard&lt;/b&gt;" in html  # model text is escaped, never markup
    assert "Question about tone-440?" in html and "a clip of 0.5 seconds" in html
    assert "Think step by step about what the description tells you" in html  # the prompt
    assert "the prompt template changed" not in html
    assert "random guess" in html


def test_noise_run_plays_the_clip_and_what_the_front_end_heard(make_config: MakeConfig) -> None:
    run_dir = commands.run(make_config(audio={"replace": "noise"})).run_dir
    html = (run_dir / "report.html").read_text()
    page = parse(html)

    assert len(page.audio) == 12 and len(set(page.audio)) == 12
    assert html.count("what the front-end heard (ablation)") == 6
    assert "audio replaced by noise" in html


def test_rendering_a_noise_run_only_reads(make_config: MakeConfig) -> None:
    """The page shows the substitute clips the run made; it never makes them itself."""
    config = make_config(audio={"replace": "noise"})
    run_dir = commands.run(config).run_dir
    shutil.rmtree(Path(config.cache_dir) / "synthetic")

    result = CliRunner().invoke(app, ["score", str(run_dir), "--html"])

    assert result.exit_code == 0, result.output
    assert not (Path(config.cache_dir) / "synthetic").exists()
    html = (run_dir / "report.html").read_text()
    assert "what the front-end heard (ablation)" not in html
    assert len(parse(html).audio) == 6  # the items' own clips, still on this machine


def test_score_html_rewrites_the_run_report(run_dir: Path) -> None:
    (run_dir / "report.html").unlink()
    result = CliRunner().invoke(app, ["score", str(run_dir), "--html"])
    assert result.exit_code == 3, result.output  # the run left mix-6 without an answer
    assert "1 of 6 items of test have no answer" in result.output
    assert parse((run_dir / "report.html").read_text()).svg == 9
    predictions = CliRunner().invoke(app, ["score", str(run_dir / "predictions.json"), "--html"])
    assert predictions.exit_code == 1 and "--html needs a run directory" in predictions.output


def test_run_page_builds_each_item_card_only_when_it_is_written(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    card = run_page.item_card

    def counted(view: run_page.RunView, item: Item, *args: Any) -> run_page.Card:
        built.append(item.id)
        return card(view, item, *args)

    monkeypatch.setattr(run_page, "item_card", counted)
    view = run_page.load_run_view(run_dir)
    parts = run_page.run_page_parts(view, run_dir / "report.html")
    written = ""
    while 'class="item"' not in written:
        written += next(parts)
    assert built == [view.items[0].id]  # the first card, not all of them: memory stays bounded
    rest = list(parts)
    assert len(built) == len(view.items)
    cards = [part for part in rest if "data:audio/" in part]
    assert all(part.count("data:audio/") == 1 for part in cards)  # one clip per part at most
    assert written + "".join(rest) == (run_dir / "report.html").read_text()


def test_large_clips_are_linked_by_relative_path(tmp_path: Path) -> None:
    clip = tmp_path / "audio" / "big.flac"
    clip.parent.mkdir()
    clip.write_bytes(b"x" * 2000)
    embed = Embedder(tmp_path / "report", limit=1000)
    assert embed.source(clip) == "../audio/big.flac"
    assert str(Embedder(tmp_path, limit=5000).source(clip)).startswith(
        "data:audio/flac;base64,eHh4"
    )
    assert Embedder(tmp_path, limit=5000, budget=1000).source(clip) == "audio/big.flac"
    assert embed.source(tmp_path / "missing.wav") is None


def test_compare_html_links_runs_and_flipped_items(
    run_dir: Path, make_config: MakeConfig, tmp_path: Path
) -> None:
    other = commands.run(make_config()).run_dir  # every item right
    out = tmp_path / "compare.html"
    result = CliRunner().invoke(app, ["compare", str(run_dir), str(other), "--html", str(out)])

    assert result.exit_code == 0, result.output
    page = parse(out.read_text())
    assert page.external == []
    assert page.svg == 9  # per scorer: differences, by modality, by layer
    flipped = [link for link in page.links if link.endswith("#item=music-mood")]
    assert flipped and all(link.endswith("report.html#item=music-mood") for link in flipped)


HOSTILE = "<script>alert(1)</script>"


def assert_escaped(html: str) -> None:
    """Markup in run text reaches the page as text: the page runs its own script only."""
    assert HOSTILE not in html
    assert str(escape(HOSTILE)) in html
    assert html.count("<script") == 1


def hostile_run(bench: Path, make_config: MakeConfig) -> Path:
    """A run whose item question and choice, description, answer, reasoning and judge record
    all carry a script tag."""
    lines = [json.loads(line) for line in bench.read_text().splitlines()]
    for line in lines:
        if line["id"] == "music-mood":
            line["question"] = f"Which mood? {HOSTILE}"
            line["choices"][0] = f"Happy {HOSTILE}"
    bench.write_text("".join(json.dumps(line) + "\n" for line in lines))
    config = make_config(
        captioners=[{"name": "scripted", "config": {"texts": {"music-mood": HOSTILE}}}],
        reasoner={
            "name": "scripted",
            "config": {
                "answers": SCRIPT | {"music-mood": f"{HOSTILE}\nANSWER: A"},
                "reasoning": HOSTILE,
            },
        },
    )
    run_dir = commands.run(config).run_dir
    group = {"group": HOSTILE, "n": 1, "rubric": 0.5, "rubric_ci_low": 0.1}
    record = {"judge": HOSTILE, "samples": 5, "prompt": HOSTILE}
    record["groups"] = [group | {"rubric_ci_high": 0.9, "accuracy": 1.0}]
    (run_dir / "judge-hostile.json").write_text(json.dumps(record))
    write_run_report(run_dir)
    return run_dir


def test_text_from_items_models_and_judges_is_escaped_in_every_page(
    bench: Path, make_config: MakeConfig, tmp_path: Path
) -> None:
    run_dir = hostile_run(bench, make_config)
    run_page = (run_dir / "report.html").read_text()
    assert_escaped(run_page)
    for shown in (
        f"Which mood? {HOSTILE}",  # question
        f"(A) Happy {HOSTILE}",  # choice
        f"{HOSTILE}\nANSWER: A",  # answer
        f"(not MMAR-Rubrics), judge {HOSTILE}",  # judge
    ):
        assert str(escape(shown)) in run_page, shown
    # the description of music-mood and the reasoning of the five answered items
    assert run_page.count(f"<pre>{escape(HOSTILE)}</pre>") == 6

    other = commands.run(make_config()).run_dir
    runs = [(HOSTILE, rescore.load(run_dir)), ("other", rescore.load(other))]
    compared = comparing.compare(runs, alpha=0.05)
    assert_escaped(compare_page(compared, [run_dir, other], tmp_path / "compare.html"))

    named = [("base", runs[1][1]), (HOSTILE, runs[0][1])]
    table = sweep_table.sweep_table(named, scoring=make_config().scoring)
    sweep = sweep_page(
        HOSTILE,
        table,
        sweep_table.flips(named),
        {"base": {}, HOSTILE: {"error": HOSTILE}},
        {"base": other, HOSTILE: run_dir},
        tmp_path / "sweep.html",
        alpha=0.05,
        text_only=[HOSTILE],
    )
    assert_escaped(sweep)
    assert str(escape(f"failed: {HOSTILE}")) in sweep


def test_charts_escape_their_labels() -> None:
    bars = (svg.Bar(HOSTILE, 0.5, 0.4, 0.6, note=HOSTILE),)
    charts = [
        svg.interval_chart([svg.Group(HOSTILE, bars, 0.25)], title=HOSTILE),
        svg.delta_chart([svg.Delta(HOSTILE, 0.1, True, HOSTILE)], title=HOSTILE),
        svg.heatmap(
            [[1]],
            rows=[HOSTILE],
            columns=[HOSTILE],
            title=HOSTILE,
            row_title=HOSTILE,
            column_title=HOSTILE,
        ),
    ]
    for chart in charts:
        assert "<script" not in chart and "&lt;script&gt;" in chart


def test_sweep_page_opens_on_the_sweeps_scorer(
    make_config: MakeConfig, run_dir: Path, tmp_path: Path
) -> None:
    runs = [("base", rescore.load(run_dir)), ("again", rescore.load(run_dir))]
    table = sweep_table.sweep_table(runs, scoring=make_config().scoring)
    page = sweep_page(
        "s",
        table,
        sweep_table.flips(runs),
        {},
        {},
        tmp_path / "s.html",
        alpha=0.05,
        scorer="official",
    )
    assert "<option selected>official</option>" in page
    assert 'scorer: "official"' in page


@pytest.mark.parametrize("missing", ["run_page.html.j2", "item_card.html.j2", "report.js"])
def test_a_missing_template_fails_loudly_and_keeps_the_old_page(
    missing: str, run_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    broken = tmp_path / "templates"
    shutil.copytree(render.TEMPLATES, broken)
    (broken / missing).unlink()
    monkeypatch.setattr(render, "TEMPLATES", broken)
    render.environment.cache_clear()
    before = (run_dir / "report.html").read_text()
    try:
        result = CliRunner().invoke(app, ["score", str(run_dir), "--html"])
    finally:
        render.environment.cache_clear()
    assert result.exit_code == 1, result.output
    assert f"HTML template {missing} is missing" in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert (run_dir / "report.html").read_text() == before  # written whole or not at all


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):  # CI installs it: a missing browser there is a failure
            pytest.fail("chromium is missing: apt-get install -y chromium")
        pytest.skip("needs Debian's chromium: apt-get install -y chromium")
    return found


def browse(page: Path, fragment: str, tmp_path: Path, *extra: str) -> str:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        *extra,
        f"{page.resolve().as_uri()}#{fragment}",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_filters_work_in_a_real_browser(run_dir: Path, tmp_path: Path) -> None:
    page = run_dir / "report.html"
    cases: list[tuple[str, set[str]]] = [
        ("", set(EXPECTED)),
        ("outcome=correct", {i for i, o in EXPECTED.items() if o == "correct"}),
        ("scorer=strict&outcome=invalid", {"speech-yes"}),
        ("scorer=official&outcome=wrong", {"music-mood"}),
        ("outcome=error", {"mix-6"}),
        ("modality=speech", {"speech-yes", "speech-count"}),
        ("outcome=correct&category=Signal%20Layer", {"tone-440", "tone-880"}),
        ("q=music", {"music-mood"}),
    ]
    for fragment, visible in cases:
        dom = parse(browse(page, fragment, tmp_path, "--dump-dom"))
        shown = {i["id"].removeprefix("item-") for i in dom.items} - set(dom.hidden)
        assert shown == visible, fragment
    dom_text = browse(page, "outcome=wrong", tmp_path, "--dump-dom")
    assert f"{len(['music-mood'])} of 6 items" in dom_text
    scoped = parse(dom_text).scoped
    assert scoped and all(hidden == (scorer != "strict") for scorer, hidden in scoped)

    shot = tmp_path / "report.png"
    browse(page, "", tmp_path, f"--screenshot={shot}", "--window-size=1280,1600")
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


@pytest.mark.slow
def test_sweep_report_renders_in_a_real_browser(tmp_path: Path, make_config: MakeConfig) -> None:
    from tests.test_ablate import run, write_sweep

    run(write_sweep(tmp_path, make_config))
    page = tmp_path / "sweep" / "report.html"
    dom = browse(page, "scorer=lenient", tmp_path, "--dump-dom")

    parsed = parse(dom)
    assert parsed.external == []
    assert parsed.svg == 6  # per scorer: differences and accuracy
    assert parsed.scoped and all(
        hidden == (scorer != "lenient") for scorer, hidden in parsed.scoped
    )
    assert any(link.endswith("report.html#item=tone-440") for link in parsed.links)


def test_a_partial_shuffle_run_shows_the_clips_its_front_end_heard(
    make_config: MakeConfig,
) -> None:
    summary = commands.run(make_config(audio={"replace": "shuffle"}))
    results = summary.run_dir / "results.jsonl"
    lines = results.read_text().splitlines()
    heard = run_page._heard_paths(run_page.load_run_view(summary.run_dir))
    results.write_text("\n".join(lines[:2]) + "\n")  # as if stopped after two items

    partial = run_page._heard_paths(run_page.load_run_view(summary.run_dir))
    assert len(partial) == 2
    assert partial == {item_id: heard[item_id] for item_id in partial}
