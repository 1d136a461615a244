"""Ablation hooks of a run: audio substitution, oracle and text-only descriptions, degradations."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import soundfile as sf

from cascade import commands
from cascade.core import ConfigError
from cascade.run import NO_DESCRIPTION, RunConfig, degrade, derangement
from cascade.run.config import validate
from tests.conftest import ITEMS, MakeConfig


def results(run_dir: Path) -> dict[str, dict[str, object]]:
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    return {r["id"]: r for r in map(json.loads, lines)}


def stage_keys(run_dir: Path) -> dict[str, str]:
    return {i: r["stages"]["scripted"]["key"] for i, r in results(run_dir).items()}  # type: ignore[index]


def add_annotations(meta: Path, missing: str | None = None) -> None:
    """Give every item MMAR's `cue` and `thinking` (none for `missing`)."""
    lines = [json.loads(line) for line in meta.read_text().splitlines()]
    for line in lines:
        if line["id"] != missing:
            line["cue"] = [f"cue of {line['id']}", "second cue"]
            line["thinking"] = f"The reference reasoning for {line['id']}."
    meta.write_text("".join(json.dumps(line) + "\n" for line in lines))


def levenshtein(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


# --- config and fingerprint ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "section",
    [
        {"audio": {"replace": "noise"}},
        {"audio": {"replace": "shuffle", "seed": 3}},
        {"description": {"truncate_words": 20}},
        {"description": {"word_dropout": 0.3}},
        {"description": {"asr_wer": 0.2}},
        {"description": {"asr_wer": 0.2, "seed": 1}},
        {"description": {"source": "oracle"}, "captioners": []},
    ],
)
def test_every_ablation_option_names_its_own_run_directory(section: dict[str, object]) -> None:
    reasoner = {"reasoner": {"name": "scripted"}}
    assert validate({**section, **reasoner}).fingerprint() != validate(reasoner).fingerprint()


def test_oracle_with_a_front_end_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="also set captioners to"):
        validate(
            {
                "description": {"source": "oracle"},
                "captioners": [{"name": "scripted"}],
                "reasoner": {"name": "scripted"},
            }
        )


# --- text-only prior ------------------------------------------------------------------------------


def test_text_only_run_reads_no_audio_and_calls_no_front_end(
    make_config: MakeConfig, bench: Path
) -> None:
    for clip in (bench.parent / "audio").iterdir():
        clip.unlink()  # a text-only run must not need the audio at all
    summary = commands.run(make_config(captioners=[]))

    assert summary.frontend.computed == summary.frontend.reused == 0
    assert summary.reasoner.computed == 6 and summary.errors == 0
    first = results(summary.run_dir)["tone-440"]
    assert first["description"] == NO_DESCRIPTION and first["stages"] == {}
    assert summary.metrics["scorers"]["strict"]["overall"]["correct"] == 6


# --- audio substitution ---------------------------------------------------------------------------


def test_noise_is_generated_once_with_the_clip_length_and_re_used(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    base = commands.run(make_config())
    noise = commands.run(make_config(audio={"replace": "noise"}))
    again = commands.run(make_config(audio={"replace": "noise"}, run__run_dir=str(tmp_path / "b")))

    clips = sorted((tmp_path / "cache" / "synthetic" / "noise").glob("*.flac"))
    assert len(clips) == 6  # one noise clip per item
    assert {round(sf.info(str(c)).duration, 3) for c in clips} == {0.5}
    assert (noise.frontend.computed, noise.frontend.reused) == (6, 0)
    assert (again.frontend.computed, again.reasoner.computed) == (0, 0)
    assert again.frontend.reused == again.reasoner.reused == 6
    assert set(stage_keys(noise.run_dir).values()).isdisjoint(stage_keys(base.run_dir).values())
    assert "a clip of 0.5 seconds" in str(results(noise.run_dir)["tone-440"]["description"])


def test_silence_is_one_clip_for_items_of_one_length(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    summary = commands.run(make_config(audio={"replace": "silence"}))

    (clip,) = (tmp_path / "cache" / "synthetic" / "silence").glob("*.flac")
    samples, rate = sf.read(str(clip))
    assert rate == 16000 and len(samples) == 8000 and not samples.any()
    assert len(set(stage_keys(summary.run_dir).values())) == 1


def test_shuffle_gives_each_item_another_items_audio(make_config: MakeConfig) -> None:
    base = stage_keys(commands.run(make_config()).run_dir)
    shuffled = stage_keys(commands.run(make_config(audio={"replace": "shuffle"})).run_dir)

    donors = derangement([i[0] for i in ITEMS], seed=0)
    assert all(donor != item for item, donor in donors.items())
    assert sorted(donors.values()) == sorted(donors)  # a permutation
    assert shuffled == {item: base[donor] for item, donor in donors.items()}


def test_derangement_is_reproducible_and_seeded() -> None:
    ids = [f"item-{n}" for n in range(20)]
    assert derangement(ids, 0) == derangement(ids, 0)
    assert derangement(ids, 0) != derangement(ids, 1)
    assert all(a != b for a, b in derangement(ids, 5).items())


# --- oracle ---------------------------------------------------------------------------------------


def test_oracle_description_comes_from_the_annotations(
    make_config: MakeConfig, bench: Path
) -> None:
    add_annotations(bench, missing="mix-6")
    for clip in (bench.parent / "audio").iterdir():
        clip.unlink()
    summary = commands.run(make_config(captioners=[], description={"source": "oracle"}))

    assert summary.frontend.computed == summary.frontend.reused == 0
    lines = results(summary.run_dir)
    description = str(lines["tone-440"]["description"])
    assert "- cue of tone-440\n- second cue" in description
    assert "The reference reasoning for tone-440." in description
    assert lines["mix-6"]["error_stage"] == "prompt"
    assert "item mix-6: no cue or thinking annotation" in str(lines["mix-6"]["error"])


def test_shuffled_oracle_uses_another_items_annotations(
    make_config: MakeConfig, bench: Path
) -> None:
    add_annotations(bench)
    config = make_config(
        captioners=[], description={"source": "oracle"}, audio={"replace": "shuffle"}
    )
    lines = results(commands.run(config).run_dir)

    donors = derangement([i[0] for i in ITEMS], seed=0)
    for item, donor in donors.items():
        assert f"cue of {donor}\n" in str(lines[item]["description"])


# --- degradations ---------------------------------------------------------------------------------


TEXT = "one two three four five six seven eight nine ten"


def scripted_text(make_config: MakeConfig, **overrides: object) -> RunConfig:
    return make_config(captioners=[{"name": "scripted", "config": {"template": TEXT}}], **overrides)


def test_truncation_keeps_the_first_words_and_the_layout(make_config: MakeConfig) -> None:
    summary = commands.run(scripted_text(make_config, description={"truncate_words": 3}))

    description = str(results(summary.run_dir)["tone-440"]["description"])
    assert description == "Audio caption (from scripted):\n<caption>\none two three\n</caption>"


def test_identical_prompts_re_use_answers_across_variations(make_config: MakeConfig) -> None:
    commands.run(scripted_text(make_config))
    no_op = commands.run(scripted_text(make_config, description={"truncate_words": 50}))
    cut = commands.run(scripted_text(make_config, description={"truncate_words": 2}))

    assert no_op.run_dir != cut.run_dir
    assert no_op.reasoner.reused == 6 and no_op.reasoner.computed == 0
    assert cut.reasoner.computed == 6 and cut.frontend.reused == 6


def test_dropout_and_asr_errors_are_reproducible_per_item(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    degraded = {"word_dropout": 0.3, "asr_wer": 0.2, "seed": 7}
    first = results(commands.run(scripted_text(make_config, description=degraded)).run_dir)
    again = results(
        commands.run(
            scripted_text(make_config, description=degraded, run__run_dir=str(tmp_path / "again"))
        ).run_dir
    )

    descriptions = {i: r["description"] for i, r in first.items()}
    assert descriptions == {i: r["description"] for i, r in again.items()}
    assert len(set(descriptions.values())) > 1  # seeded per item, not one pattern for all
    assert all(TEXT not in str(d) for d in descriptions.values())


def test_degradation_can_target_one_stage(make_config: MakeConfig) -> None:
    config = make_config(
        captioners=[
            {"name": "scripted", "config": {"template": TEXT}},
            {"name": "scripted", "label": "kept", "config": {"template": TEXT}},
        ],
        description={"truncate_words": 1, "degrade_stages": ["scripted"]},
    )
    description = str(results(commands.run(config).run_dir)["tone-440"]["description"])
    assert description == (
        "Audio caption (from scripted):\n<caption>\none\n</caption>\n\n"
        f"Audio caption (from kept):\n<caption>\n{TEXT}\n</caption>"
    )


def test_degrading_an_unknown_stage_is_a_config_error(make_config: MakeConfig) -> None:
    config = make_config(description={"asr_wer": 0.2, "degrade_stages": ["whisper"]})
    with pytest.raises(ConfigError, match=r"names \['whisper'\].*its parts: \['scripted'\]"):
        commands.run(config)


def test_truncate_counts_words_and_keeps_line_breaks() -> None:
    text = "loudness: -20 dB\ntempo: 120 BPM\nkey: A minor"
    assert degrade.truncate(text, 5) == "loudness: -20 dB\ntempo: 120"
    assert degrade.truncate(text, 0) == ""
    assert degrade.truncate(text, 99) == text


def test_word_dropout_rate_and_whitespace() -> None:
    words = " ".join(f"w{n}" for n in range(4000))
    kept = degrade.word_dropout(words, 0.3, random.Random(1))
    assert "  " not in kept and not kept.startswith(" ")
    assert abs(len(kept.split()) / 4000 - 0.7) < 0.03
    assert set(kept.split()) <= set(words.split())


@pytest.mark.parametrize("wer", [0.05, 0.1, 0.2, 0.3])
def test_asr_errors_hit_the_target_word_error_rate(wer: float) -> None:
    rng = random.Random(3)
    reference = " ".join(
        rng.choice(["cat", "sat", "mat", "440", "Hz", "tone.", "Piano"]) for _ in range(400)
    )
    corrupted = degrade.asr_errors(reference, wer, random.Random(11))

    assert corrupted.errors == round(wer * 400)
    assert corrupted.words == 400
    measured = levenshtein(reference.split(), corrupted.text.split()) / 400
    # An alignment can find a cheaper path than the edits made (an insertion beside a deletion
    # aligns as one substitution), never a dearer one.
    assert wer - 0.03 <= measured <= wer + 1e-9
    assert len(corrupted.text.split()) == 400 - corrupted.deletions + corrupted.insertions


def test_sound_alikes_always_change_the_word() -> None:
    rng = random.Random(0)
    for word in ["their", "Two", "440", "a", "rhythm", "tone.", "(B)", "x", "--"]:
        assert degrade.sound_alike(word, rng) != word
