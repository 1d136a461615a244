"""Ablation sweeps with scripted components: expansion, re-use, the table and its statistics."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from scipy.stats import binomtest
from typer.testing import CliRunner

from cascade import commands
from cascade.analysis import ablate
from cascade.analysis.sweep_table import flips, sweep_table
from cascade.cli import app
from cascade.core import ConfigError, Item
from cascade.run import ComponentPool, Scorable
from cascade.scoring import ScoringSpec
from tests.conftest import ITEMS, MakeConfig, correct_letter

WRONG = {"tone-440": "A", "tone-880": "A", "speech-yes": "A", "music-mood": "A", "mix-6": "A"}


def answers(**changes: str) -> dict[str, str]:
    """The scripted answers: right for every item except music-mood, then `changes` (letters)."""
    letters = {i[0]: correct_letter(i[0]) for i in ITEMS} | {"music-mood": "A"}
    letters |= {k.replace("_", "-"): v for k, v in changes.items()}
    return {item: f"Reasoning.\nANSWER: {letter}" for item, letter in letters.items()}


def write_sweep(tmp_path: Path, make_config: MakeConfig, **spec: Any) -> Path:
    base = make_config(
        captioners=[
            {"name": "scripted", "label": "first"},
            {"name": "scripted", "label": "second", "config": {"kind": "tags"}},
        ],
        reasoner={"name": "scripted", "config": {"answers": answers()}},
    ).model_dump(mode="json")
    base.pop("audio"), base.pop("description")
    data = {
        "name": "sw",
        "base": base,
        "output_dir": str(tmp_path / "sweep"),
        "variations": {
            # right -> wrong on tone-440, tone-880 and speech-yes
            "worse": [
                f"reasoner.config.answers.{i}='ANSWER: {WRONG[i]}'"
                for i in ("tone-440", "tone-880", "speech-yes")
            ],
            # wrong -> right on music-mood, right -> wrong on mix-6
            "swap": {
                "set": [
                    "reasoner.config.answers.music-mood='ANSWER: B'",
                    "reasoner.config.answers.mix-6='ANSWER: A'",
                ]
            },
            "text-only": {"description": "none"},
            "noise": {"audio": "noise"},
            "cut": {"truncate_words": 2, "word_dropout": 0.2, "asr_wer": 0.5, "seed": 4},
        },
        **spec,
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run(path: Path) -> tuple[ablate.Sweep, list[ablate.Outcome], ablate.SweepResults]:
    sweep = ablate.load_sweep(str(path))
    outcomes = ablate.run_sweep(sweep, lambda v: commands.run(v.config).to_json())
    return sweep, outcomes, commands.finish_sweep(sweep, outcomes)


def test_sweep_expands_automatic_and_listed_variations(
    tmp_path: Path, make_config: MakeConfig
) -> None:
    path = write_sweep(tmp_path, make_config, drop_each_stage=True, each_stage_alone=True)
    sweep = ablate.load_sweep(str(path))

    names = [v.name for v in sweep.variations]
    assert names == [
        "base",
        "drop-first",
        "drop-second",
        "worse",
        "swap",
        "text-only",
        "noise",
        "cut",
    ]
    by_name = {v.name: v.config for v in sweep.variations}
    assert [c.stage for c in by_name["drop-first"].captioners] == ["second"]
    # of two stages, one alone is the other dropped: only-* would repeat drop-*
    alone = ablate.load_sweep(str(write_sweep(tmp_path, make_config, each_stage_alone=True)))
    only = {v.name: v.config for v in alone.variations if v.name.startswith("only-")}
    assert [c.stage for c in only["only-first"].captioners] == ["first"]
    assert [c.stage for c in only["only-second"].captioners] == ["second"]
    assert by_name["text-only"].captioners == []
    assert by_name["noise"].audio.replace == "noise"
    assert by_name["cut"].description.asr_wer == 0.5 and by_name["cut"].audio.seed == 4
    assert len({c.fingerprint() for c in by_name.values()}) == len(names)
    assert all(c.run.output_dir == tmp_path / "sweep" / "runs" for c in by_name.values())


def test_unknown_stage_and_bad_shorthand_are_config_errors(
    tmp_path: Path, make_config: MakeConfig
) -> None:
    path = write_sweep(tmp_path, make_config)
    data = yaml.safe_load(path.read_text())
    data["variations"] = {"x": {"drop_stage": "whisper"}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match=r"no front-end stage \['whisper'\]"):
        ablate.load_sweep(str(path))
    data["variations"] = {"x": {"audio": "pink"}}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError, match=r"variations\.x"):
        ablate.load_sweep(str(path))


def test_sweep_table_flips_and_second_run_computes_nothing(
    tmp_path: Path, make_config: MakeConfig
) -> None:
    path = write_sweep(tmp_path, make_config, by=["modality"])
    _, first, results = run(path)

    assert [o.error for o in first] == [None] * 6
    summaries = {o.variation: o.summary for o in first}
    assert summaries["text-only"]["stages"] == {
        "computed": 0,
        "reused": 0,
        "failed": 0,
        "by_stage": {},
        "model_seconds": 0.0,
    }
    assert summaries["noise"]["stages"]["computed"] == 12  # two stages on six generated clips
    assert summaries["worse"]["stages"]["reused"] == 12  # same audio as the base
    assert summaries["worse"]["reasoner"]["computed"] == 6  # another reasoner config

    table = results.table
    overall = table[(table["group"] == "all") & (table["scorer"] == "strict")].set_index(
        "variation"
    )
    assert list(overall.index) == ["base", "worse", "swap", "text-only", "noise", "cut"]
    assert overall.loc["base", "correct"] == 5
    assert (overall.loc["worse", "right_to_wrong"], overall.loc["worse", "wrong_to_right"]) == (
        3,
        0,
    )
    assert (overall.loc["swap", "right_to_wrong"], overall.loc["swap", "wrong_to_right"]) == (1, 1)
    assert overall.loc["worse", "difference"] == pytest.approx(-3 / 6)
    assert overall.loc["worse", "p_mcnemar"] == pytest.approx(binomtest(0, 3, 0.5).pvalue)
    assert overall.loc["worse", "p_bonferroni"] == pytest.approx(min(1, 5 * 0.25))
    assert overall.loc["swap", "p_mcnemar"] == pytest.approx(1.0)
    assert not overall["significant"].iloc[1:].any()
    speech = table[(table["group"] == "modality=speech") & (table["scorer"] == "strict")]
    assert list(speech["n"]) == [2] * 6
    assert results.flips["worse"]["strict"]["right_to_wrong"] == [
        "tone-440",
        "tone-880",
        "speech-yes",
    ]
    assert results.flips["swap"]["official"] == {
        "correct": [i[0] for i in ITEMS if i[0] != "mix-6"],
        "wrong_to_right": ["music-mood"],
        "right_to_wrong": ["mix-6"],
    }

    folder = tmp_path / "sweep"
    assert pd.read_csv(folder / "table.csv").shape[0] == len(table)
    markdown = (folder / "table.md").read_text()
    assert (
        "| worse" in markdown and "Answered right without hearing anything (text-only" in markdown
    )
    page = (folder / "report.html").read_text()
    assert "Answered right without hearing anything (text-only)" in page
    recorded = json.loads((folder / "sweep.json").read_text())
    assert [v["name"] for v in recorded["variations"]] == list(overall.index)

    _, again, _ = run(path)
    for outcome in again:
        assert outcome.summary["stages"]["computed"] == 0, outcome.variation
        assert outcome.summary["reasoner"]["computed"] == 0, outcome.variation
        assert outcome.summary["resumed"] == 6, outcome.variation


def test_ablate_command_runs_a_sweep_and_prints_its_table(
    tmp_path: Path, make_config: MakeConfig
) -> None:
    path = write_sweep(tmp_path, make_config)
    dry = CliRunner().invoke(app, ["ablate", str(path), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "text-only: " in dry.output and not (tmp_path / "sweep" / "runs").exists()

    done = CliRunner().invoke(app, ["ablate", str(path), "--only", "worse", "--by", "category"])
    assert done.exit_code == 0, done.output
    assert "worse" in done.output and "text-only" not in done.output
    table = pd.read_csv(tmp_path / "sweep" / "table.csv")
    assert set(table["variation"]) == {"base", "worse"}
    assert "category=Signal Layer" in set(table["group"])

    bad = CliRunner().invoke(app, ["ablate", str(path), "--only", "nope"])
    assert bad.exit_code == 1 and "no variation ['nope']" in bad.output


def test_a_pool_loads_each_component_once_for_the_whole_sweep(
    tmp_path: Path, make_config: MakeConfig
) -> None:
    sweep = ablate.load_sweep(str(write_sweep(tmp_path, make_config)))
    # The components themselves, not their id(): a closed one, once freed, may leave its
    # address (and id) to the next one built.
    used: dict[str, list[object]] = {}
    with ComponentPool() as pool:

        def run_one(variation: ablate.Variation) -> dict[str, Any]:
            summary = commands.run(variation.config, pool=pool)
            components = [*pool.stages(variation.config), pool.reasoner(variation.config)]
            used[variation.name] = [getattr(c, "component", c) for c in components]
            return summary.to_json()

        outcomes = ablate.run_sweep(sweep, run_one)
        assert [o.error for o in outcomes] == [None] * 6
        # two captioners and the base reasoner; "worse" and "swap" replaced it (same name,
        # other config), so each was closed when the next run came
        assert len(pool) == 3

    for stage in (0, 1):  # the captioners loaded once
        assert used["worse"][stage] is used["base"][stage] is used["cut"][stage]
    assert used["worse"][2] is not used["base"][2] and used["swap"][2] is not used["worse"][2]
    assert used["cut"][2] is used["noise"][2] is used["text-only"][0]  # reloaded once, then kept


def test_shipped_sweeps_expand(tmp_path: Path) -> None:
    for name in ("demo", "caption-quality"):
        sweep = ablate.load_sweep(name, output=tmp_path)
        names = [v.name for v in sweep.variations]
        for expected in ("base", "text-only", "oracle", "noise", "silence", "shuffled"):
            assert expected in names, (name, expected)
        assert any(n.startswith("drop-") for n in names)


# --- the paired statistics against independent computations --------------------------------------


def synthetic_runs(
    seed: int, n: int = 80
) -> tuple[Scorable, Scorable, dict[str, bool], dict[str, bool]]:
    rng = random.Random(seed)
    items = tuple(
        Item(
            id=f"q{k}",
            benchmark="mmar",
            audio_path=f"./audio/q{k}.wav",
            audio=None,
            question="?",
            choices=("red", "green", "blue", "black"),
            answer="green",
            modality=rng.choice(["sound", "speech"]),
            category="Signal Layer",
            sub_category="x",
        )
        for k in range(n)
    )
    a = {i.id: rng.random() < 0.6 for i in items}
    b = {i.id: (a[i.id] if rng.random() < 0.7 else not a[i.id]) for i in items}

    def scorable(name: str, right: dict[str, bool]) -> Scorable:
        results = {
            i: {"id": i, "raw_answer": f"ANSWER: {'B' if ok else 'C'}"} for i, ok in right.items()
        }
        return Scorable(name, "mmar", items, results)

    return scorable("a", a), scorable("b", b), a, b


@pytest.mark.parametrize("seed", range(8))
def test_paired_statistics_match_independent_computations(seed: int) -> None:
    run_a, run_b, a, b = synthetic_runs(seed)
    table = sweep_table([("a", run_a), ("b", run_b), ("c", run_b)], scoring=ScoringSpec())
    row = table[(table["variation"] == "b") & (table["scorer"] == "strict")].iloc[0]

    to_right = sorted(i for i in a if not a[i] and b[i])
    to_wrong = sorted(i for i in a if a[i] and not b[i])
    assert (row["wrong_to_right"], row["right_to_wrong"]) == (len(to_right), len(to_wrong))
    discordant = len(to_right) + len(to_wrong)
    expected = binomtest(len(to_right), discordant, 0.5).pvalue if discordant else 1.0
    assert row["p_mcnemar"] == pytest.approx(expected, rel=1e-9)
    assert row["p_bonferroni"] == pytest.approx(min(1.0, 2 * expected), rel=1e-9)
    assert row["difference"] == pytest.approx((sum(b.values()) - sum(a.values())) / len(a))
    found = flips([("a", run_a), ("b", run_b)])["b"]["strict"]
    assert sorted(found["wrong_to_right"]) == to_right
    assert sorted(found["right_to_wrong"]) == to_wrong
