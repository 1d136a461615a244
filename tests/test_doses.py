"""Dose-response sweeps: levels expanded into variations, the table, noise at an SNR, the chart."""

from __future__ import annotations

import json
import math
import random
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml
from typer.testing import CliRunner

from cascade import commands
from cascade.analysis import ablate
from cascade.analysis.doses import dose_table
from cascade.analysis.sweep_table import sweep_table
from cascade.cli import app
from cascade.core import ConfigError, Item
from cascade.report.html import svg
from cascade.run import Scorable
from cascade.run.config import validate
from cascade.run.variations import noisy_clip
from cascade.scoring import ScoringSpec
from cascade.testing import sine
from tests.conftest import ITEMS, MakeConfig, correct_letter


def write_sweep(tmp_path: Path, make_config: MakeConfig, doses: list[dict[str, Any]]) -> Path:
    """A sweep over the test benchmark: two scripted stages, a scripted reasoner, `doses`."""
    answers = {i[0]: f"ANSWER: {correct_letter(i[0])}" for i in ITEMS} | {"mix-6": "ANSWER: A"}
    base = make_config(
        captioners=[
            {"name": "scripted", "label": "first", "config": {"template": "a long clip {item_id}"}},
            {"name": "scripted", "label": "second", "config": {"kind": "tags"}},
        ],
        reasoner={"name": "scripted", "config": {"answers": answers}},
    ).model_dump(mode="json")
    base.pop("audio"), base.pop("description")
    data = {"name": "dz", "base": base, "output_dir": str(tmp_path / "sweep"), "doses": doses}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


DROPOUT = {"name": "dropout", "key": "description.word_dropout", "levels": [0.0, 0.3, 0.6]}


# --- expansion ------------------------------------------------------------------------------------


def test_each_level_is_a_variation_named_by_its_level(
    tmp_path: Path, make_config: MakeConfig
) -> None:
    doses = [
        DROPOUT,
        {
            "name": "wer",
            "key": "description.asr_wer",
            "levels": [0.1, 0.5],
            "set": ["description.degrade_stages=[first]"],
        },
        {"name": "cut", "key": "description.truncate_words", "levels": [20, 5]},
        {"name": "snr", "key": "audio.snr_db", "levels": [20, -5]},
    ]
    path = write_sweep(tmp_path, make_config, doses)
    dry = CliRunner().invoke(app, ["ablate", str(path), "--dry-run"])

    names = [line.split(": ")[0] for line in dry.output.splitlines() if ": " in line]
    assert dry.exit_code == 0, dry.output
    assert names == [
        "base",
        "dropout=0",
        "dropout=0.3",
        "dropout=0.6",
        "wer=0.1",
        "wer=0.5",
        "cut=20",
        "cut=5",
        "snr=20",
        "snr=-5",
    ]
    configs = {v.name: v.config for v in ablate.load_sweep(str(path)).variations}
    assert [configs[f"dropout={x}"].description.word_dropout for x in ("0", "0.3", "0.6")] == [
        0.0,
        0.3,
        0.6,
    ]
    assert configs["wer=0.5"].description.asr_wer == 0.5
    assert configs["wer=0.5"].description.degrade_stages == ["first"]
    assert configs["cut=5"].description.truncate_words == 5
    assert isinstance(configs["cut=5"].description.truncate_words, int)
    assert configs["snr=-5"].audio.snr_db == -5.0 and configs["snr=-5"].audio.replace == "none"
    assert configs["base"].description.word_dropout == 0.0 and configs["base"].audio.snr_db is None


@pytest.mark.parametrize(
    ("dose", "message"),
    [
        (
            {"name": "x", "key": "description.word_drop", "levels": [0.1]},
            "'description.word_drop' is not a degradation with levels; use one of",
        ),
        ({"name": "x", "key": "audio.snr_db", "levels": []}, "a dose needs at least one level"),
        ({"name": "x", "key": "audio.snr_db", "levels": [5, 5]}, "repeat a level"),
        (
            {"name": "x", "key": "description.truncate_words", "levels": [2.5]},
            "levels are word counts (whole numbers)",
        ),
        (
            {"name": "x", "key": "description.word_dropout", "levels": [0.5, 1.0]},
            "variation 'x=1'",
        ),
    ],
)
def test_a_bad_dose_is_a_one_paragraph_error(
    tmp_path: Path, make_config: MakeConfig, dose: dict[str, Any], message: str
) -> None:
    path = write_sweep(tmp_path, make_config, [dose])
    result = CliRunner().invoke(app, ["ablate", str(path), "--dry-run"])

    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output and "\n\n" not in result.output.strip()


def test_a_level_named_like_a_listed_variation_is_an_error(
    tmp_path: Path, make_config: MakeConfig
) -> None:
    path = write_sweep(tmp_path, make_config, [DROPOUT])
    data = yaml.safe_load(path.read_text())
    data["variations"] = {"dropout=0.3": {"word_dropout": 0.3}}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"dose 'dropout' makes a variation 'dropout=0.3'"):
        ablate.load_sweep(str(path))


# --- a dose sweep through the CLI -----------------------------------------------------------------


def test_description_levels_compute_the_front_end_once_and_write_the_dose_table(
    tmp_path: Path, make_config: MakeConfig
) -> None:
    path = write_sweep(tmp_path, make_config, [DROPOUT])
    result = CliRunner().invoke(app, ["ablate", str(path)])
    assert result.exit_code == 0, result.output

    folder = tmp_path / "sweep"
    record = json.loads((folder / "sweep.json").read_text())
    summaries = {v["name"]: v["summary"] for v in record["variations"]}
    assert summaries["base"]["stages"]["computed"] == 12  # two stages, six items
    for level in ("dropout=0", "dropout=0.3", "dropout=0.6"):
        assert summaries[level]["stages"]["computed"] == 0, level
        assert summaries[level]["stages"]["reused"] == 12, level
    assert summaries["dropout=0"]["reasoner"]["reused"] == 6  # the base's prompt, unchanged

    table = pd.read_csv(folder / "dose_response.csv")
    strict = table[table["scorer"] == "strict"]
    assert list(strict["level"]) == [0.0, 0.3, 0.6]
    assert list(strict["variation"]) == ["dropout=0", "dropout=0.3", "dropout=0.6"]
    assert list(strict["n"]) == [6, 6, 6] and list(strict["correct"]) == [5, 5, 5]
    assert strict["coverage"].isna().all()  # no run has cue coverage
    dumped = json.loads((folder / "dose_response.json").read_text())
    (dose,) = dumped["doses"]
    assert (dose["name"], dose["key"]) == ("dropout", "description.word_dropout")
    assert dose["rows"][0]["coverage"] is None
    markdown = (folder / "table.md").read_text()
    assert "## Dose-response (strict)" in markdown and "cue coverage" not in markdown
    page = (folder / "report.html").read_text()
    assert "<h2>Dose-response</h2>" in page
    assert page.count("dropout: accuracy (strict) by level") == 2  # the chart's title and text
    assert "random guess" in page and "cue coverage" not in page

    # cue coverage, once `cascade cues` wrote it, joins the table on the next (free) invocation
    runs = {v["name"]: Path(v["run_dir"]) for v in record["variations"]}
    lexical = {"group": "all", "items": 5, "cues": 9, "coverage": 0.7, "ci95": [0.4, 0.95]}
    judged = {"group": "all", "items": 5, "cues": 9, "coverage": 0.2, "ci95": [0.0, 0.5]}
    by_stage = {"group": "stage=first", "items": 5, "cues": 9, "coverage": 0.1, "ci95": [0, 1]}
    files = {
        ("dropout=0", "cues-lexical.json"): {"measure": "lexical", "coverage": [by_stage, lexical]},
        ("dropout=0", "cues-judge-x.json"): {"measure": "judge-x", "coverage": [judged]},
        ("dropout=0.6", "cues-judge-x.json"): {"measure": "judge-x", "coverage": [judged]},
        ("dropout=0.3", "cues-lexical.json"): {"measure": "lexical", "coverage": []},
    }
    for (name, file), content in files.items():
        (runs[name] / file).write_text(json.dumps(content | {"items": []}))
    again = CliRunner().invoke(app, ["ablate", str(path)])
    assert again.exit_code == 0, again.output

    strict = pd.read_csv(folder / "dose_response.csv").query("scorer == 'strict'")
    columns = ["coverage", "coverage_n", "coverage_low", "coverage_high", "coverage_measure"]
    assert strict[columns].astype(object).fillna("-").values.tolist() == [
        [0.7, 5, 0.4, 0.95, "lexical"],  # the lexical measure first, its group `all` as written
        ["-", "-", "-", "-", "-"],  # no item with cues
        [0.2, 5, 0.0, 0.5, "judge-x"],
    ]
    assert "70.00 [40.00, 95.00] (n=5, lexical)" in (folder / "table.md").read_text()
    page = (folder / "report.html").read_text()
    assert 'data-series="cue coverage (lexical)"' in page

    (runs["dropout=0"] / "cues-lexical.json").write_text("{}")
    broken = CliRunner().invoke(app, ["ablate", str(path)])
    assert broken.exit_code == 1
    assert "cues-lexical.json: not a cue coverage file" in " ".join(broken.output.split())


# --- the table against an independent computation -------------------------------------------------


def wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    return centre - half, centre + half


def scorable(name: str, items: tuple[Item, ...], right: dict[str, bool]) -> Scorable:
    results = {
        i: {"id": i, "raw_answer": f"ANSWER: {'B' if ok else 'C'}"} for i, ok in right.items()
    }
    return Scorable(name, "mmar", items, results)


@pytest.mark.parametrize("seed", range(4))
def test_dose_table_matches_an_independent_computation(seed: int) -> None:
    rng = random.Random(seed)
    items = tuple(
        Item(
            id=f"q{k}",
            benchmark="mmar",
            audio_path=f"./audio/q{k}.wav",
            audio=None,
            question="?",
            choices=("red", "green", "blue", "black", "white")[: rng.choice([2, 3, 4, 5])],
            answer="green",
            modality="sound",
            category="Signal Layer",
            sub_category="x",
        )
        for k in range(60)
    )
    levels = [0.0, 0.2, 0.5, 0.8]
    right = {lv: {i.id: rng.random() < 0.9 - lv for i in items} for lv in levels}
    dose = ablate.DoseSpec(name="drop", key="description.word_dropout", levels=levels)
    runs = [("base", scorable("base", items, right[0.0]))]
    runs += [(dose.variation(lv), scorable(dose.variation(lv), items, right[lv])) for lv in levels]

    table = sweep_table(runs, scoring=ScoringSpec())
    found = dose_table([dose], table, {}).query("scorer == 'strict'")

    assert list(found["level"]) == levels
    for level, row in zip(levels, found.to_dict("records"), strict=True):
        k, n = sum(right[level].values()), len(items)
        assert (row["n"], row["correct"]) == (n, k)
        assert row["accuracy"] == pytest.approx(k / n)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(k, n), abs=1e-9)
        assert row["random"] == pytest.approx(sum(1 / len(i.choices) for i in items) / n)
        assert row["coverage"] is None


# --- noise at a signal-to-noise ratio -------------------------------------------------------------


def measured_snr(clean: Path, mixed: Path) -> float:
    signal, rate = sf.read(str(clean), always_2d=True)
    both, mixed_rate = sf.read(str(mixed), always_2d=True)
    assert (mixed_rate, both.shape) == (rate, signal.shape)
    return float(10 * np.log10(np.mean(signal**2) / np.mean((both - signal) ** 2)))


@pytest.mark.parametrize("snr", [30.0, 20.0, 10.0, 3.0])
def test_mixed_clip_has_the_asked_snr(tmp_path: Path, snr: float) -> None:
    clean = sine(tmp_path / "a.wav", frequency=330.0, seconds=0.5, rate=22050)
    mixed = noisy_clip(clean, snr, item_id="a", seed=0, root=tmp_path / "cache")

    assert mixed.parent == tmp_path / "cache" / "synthetic" / "snr"
    assert measured_snr(clean, mixed) == pytest.approx(snr, abs=0.05)


def test_mixed_noise_is_seeded_per_item_and_written_once(tmp_path: Path) -> None:
    clean = sine(tmp_path / "a.wav", seconds=0.5)
    root = tmp_path / "cache"
    first = noisy_clip(clean, 10.0, item_id="a", seed=0, root=root)
    stamp = first.stat().st_mtime_ns
    again = noisy_clip(clean, 10.0, item_id="a", seed=0, root=root)
    other_seed = noisy_clip(clean, 10.0, item_id="a", seed=1, root=root)
    other_item = noisy_clip(clean, 10.0, item_id="b", seed=0, root=root)

    assert again == first and first.stat().st_mtime_ns == stamp
    samples = {p: sf.read(str(p))[0] for p in (first, other_seed, other_item)}
    assert not np.array_equal(samples[first], samples[other_seed])
    assert not np.array_equal(samples[first], samples[other_item])
    (root / "synthetic").rename(tmp_path / "elsewhere")
    remade = noisy_clip(clean, 10.0, item_id="a", seed=0, root=root)
    assert np.array_equal(sf.read(str(remade))[0], samples[first])  # the same noise, re-made


def test_a_run_with_noise_at_an_snr_hears_the_mixture(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    base = commands.run(make_config())
    noisy = commands.run(make_config(audio={"snr_db": 10}))
    again = commands.run(make_config(audio={"snr_db": 10}, run__run_dir=str(tmp_path / "again")))

    def keys(run_dir: Path) -> dict[str, str]:
        lines = (run_dir / "results.jsonl").read_text().splitlines()
        return {r["id"]: r["stages"]["scripted"]["key"] for r in map(json.loads, lines)}

    assert len(list((tmp_path / "cache" / "synthetic" / "snr").glob("*.flac"))) == 6
    assert (noisy.frontend.computed, noisy.errors) == (6, 0)
    assert set(keys(noisy.run_dir).values()).isdisjoint(keys(base.run_dir).values())
    assert (again.frontend.computed, again.frontend.reused) == (0, 6)


@pytest.mark.parametrize("damage", ["silent", "corrupt"])
def test_an_item_whose_mixture_cannot_be_made_fails_never_hearing_the_clean_clip(
    make_config: MakeConfig, bench: Path, damage: str
) -> None:
    clip = bench.parent / "audio" / "tone-880.wav"
    if damage == "silent":
        sf.write(str(clip), np.zeros(8000, dtype=np.float32), 16000)
    else:
        clip.write_bytes(b"RIFF not really a wave file")
    summary = commands.run(make_config(audio={"snr_db": 10}))

    lines = (summary.run_dir / "results.jsonl").read_text().splitlines()
    results = {r["id"]: r for r in map(json.loads, lines)}
    failed = results["tone-880"]
    assert failed["error_stage"] == "audio" and failed["raw_answer"] is None
    assert "audio.snr_db=10.0 cannot mix noise into its clip" in failed["error"]
    assert failed["stages"]["scripted"]["key"] is None  # the stage never ran on any clip
    assert all(r["error"] is None for i, r in results.items() if i != "tone-880")
    assert summary.unanswered == 1


def test_snr_with_a_substituted_clip_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"audio\.snr_db mixes noise into the item's own clip"):
        validate({"audio": {"snr_db": 5, "replace": "noise"}, "reasoner": {"name": "scripted"}})


# --- the chart ------------------------------------------------------------------------------------


def test_dose_chart_places_points_by_level_and_value_and_escapes_text() -> None:
    accuracy = svg.Curve(
        "accuracy <b>&",
        (
            svg.Point(0.0, 1.0, 0.9, 1.0, note="n=<6>"),
            svg.Point(0.25, 0.5, 0.25, 0.75),
            svg.Point(1.0, 0.0),
        ),
    )
    coverage = svg.Curve("cue coverage", (svg.Point(0.25, 0.75),))
    chart = svg.dose_chart(
        [accuracy, coverage],
        title="Dose <script>alert(1)</script>",
        axis="dropout & rate",
        reference=[(0.0, 0.25), (1.0, 0.25)],
    )

    root = ET.fromstring(chart)  # well-formed: every text escaped
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.find("s:title", ns).text == "Dose <script>alert(1)</script>"  # type: ignore[union-attr]
    assert "<script>" not in chart and "<b>" not in chart
    points = [
        (c.get("data-series"), float(c.get("cx", "")), float(c.get("cy", "")))
        for c in root.iter("{http://www.w3.org/2000/svg}circle")
    ]
    left, right = svg.DOSE_LEFT, svg.DOSE_LEFT + svg.DOSE_WIDTH
    top, bottom = svg.DOSE_TOP, svg.DOSE_TOP + svg.DOSE_HEIGHT
    middle = top + svg.DOSE_HEIGHT / 2
    assert points == [
        ("accuracy <b>&", left, top),
        ("accuracy <b>&", pytest.approx(left + 0.25 * svg.DOSE_WIDTH, abs=0.05), middle),
        ("accuracy <b>&", right, bottom),
        (
            "cue coverage",
            pytest.approx(left + 0.25 * svg.DOSE_WIDTH, abs=0.05),
            top + 0.25 * svg.DOSE_HEIGHT,
        ),
    ]
    (reference,) = [p for p in root.iter("{http://www.w3.org/2000/svg}polyline") if p.get("class")]
    y = bottom - 0.25 * svg.DOSE_HEIGHT
    assert reference.get("points") == f"{left:.1f},{y:.1f} {right:.1f},{y:.1f}"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"0", "0.25", "1", "dropout & rate", "random guess"} <= set(texts)
    tips = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
    assert "accuracy <b>& at 0: 100.0% [90.0, 100.0] · n=<6>" in tips


def test_dose_chart_with_one_level_puts_it_in_the_middle() -> None:
    chart = svg.dose_chart([svg.Curve("a", (svg.Point(5.0, 0.5),))], title="t", axis="x")
    (circle,) = ET.fromstring(chart).iter("{http://www.w3.org/2000/svg}circle")
    assert float(circle.get("cx", "")) == pytest.approx(
        svg.DOSE_LEFT + svg.DOSE_WIDTH / 2, abs=0.05
    )


def test_the_shipped_dose_sweep_runs_the_embedded_default_at_each_level(tmp_path: Path) -> None:
    sweep = ablate.load_sweep("demo-doses", output=tmp_path)

    names = [v.name for v in sweep.variations]
    assert names == ["base", "dropout=0", "dropout=0.3", "dropout=0.6", "dropout=0.9"]
    base = sweep.variations[0].config
    for variation in sweep.variations[1:]:
        assert variation.config.captioners == base.captioners
        assert variation.config.reasoner == base.reasoner
    assert [v.config.description.word_dropout for v in sweep.variations[1:]] == [0, 0.3, 0.6, 0.9]
    assert all(c.name != "scripted" for c in [*base.captioners, base.reasoner])
