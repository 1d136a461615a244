"""The AudioSet tagger: the numpy log-mel front-end, and real tags from the shipped model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cascade.captioners.audioset import (
    F_MAX,
    F_MIN,
    N_FFT,
    N_MELS,
    SAMPLE_RATE,
    log_mel,
    mel_filterbank,
    patches,
    timeline,
)

from cascade.core import resolve
from tests.frontend_audio import (
    PROGRESSION,
    SENTENCE,
    chords,
    corrupt,
    item,
    mix,
    silence,
    speech,
    tone,
    write,
)


def test_filterbank_matches_librosa_htk_triangles() -> None:
    librosa = pytest.importorskip("librosa")
    reference = librosa.filters.mel(
        sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=F_MIN, fmax=F_MAX, htk=True, norm=None
    )
    np.testing.assert_allclose(mel_filterbank(), reference.T, atol=1e-5)


@pytest.mark.parametrize(
    ("seconds", "frames", "count"),
    [(2.0, 198, 3), (0.975, 96, 1), (0.2, 96, 1), (10.0, 998, 19)],
)
def test_frames_and_patches(seconds: float, frames: int, count: int) -> None:
    waveform = tone(500.0, seconds)
    assert log_mel(waveform).shape == (frames, N_MELS)
    assert patches(waveform).shape == (count, 96, N_MELS)


def test_a_tone_lights_the_band_that_holds_it() -> None:
    band = int(np.argmax(log_mel(tone(1000.0, 1.0, 0.5)).mean(axis=0)))
    weights = mel_filterbank()[:, band]
    centre_hz = float(np.argmax(weights)) * SAMPLE_RATE / N_FFT
    assert abs(centre_hz - 1000.0) < 40.0


def test_silence_is_the_log_floor() -> None:
    assert np.allclose(log_mel(silence(1.0)), np.log(1e-6))


def test_timeline_keeps_sure_runs_of_two_windows_or_more() -> None:
    labels = ["Music", "Speech", "Dog"]
    rows = [
        [0.9, 0.1, 0.0],  # 0.00 s  Music
        [0.8, 0.1, 0.0],  # 0.48 s  Music
        [0.3, 0.2, 0.1],  # 0.96 s  nothing sure
        [0.1, 0.2, 0.7],  # 1.44 s  Dog, one window only: left out
        [0.1, 0.9, 0.0],  # 1.92 s  Speech
        [0.1, 0.9, 0.0],  # 2.40 s  Speech
        [0.1, 0.6, 0.0],  # 2.88 s  Speech
    ]
    runs = timeline(np.array(rows, dtype=np.float32), labels, 0.5, duration=3.9)
    assert runs == [
        {"label": "Music", "start": 0.0, "end": 1.2},
        {"label": "Speech", "start": 2.16, "end": 3.9},
    ]


def test_config_rejects_bad_values() -> None:
    tagger = resolve("captioner", "audioset")
    with pytest.raises(ValueError):
        tagger({"top_k": 0})
    with pytest.raises(ValueError):
        tagger({"threads": 2})  # runtime, not config


@pytest.mark.slow
def test_speech_music_and_a_corrupt_file(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    spoken = np.concatenate([silence(0.5), speech(SENTENCE)])
    clips = [
        write(tmp_path / "speech-over-tone.wav", mix(spoken, tone(1000.0, 4.0, 0.03))),
        corrupt(tmp_path / "corrupt.wav"),
        write(tmp_path / "chords.wav", chords(PROGRESSION)),
    ]
    tagger = resolve("captioner", "audioset")({"top_k": 5, "threshold": 0.1})
    over_tone, broken, music = tagger.describe([item(p) for p in clips])

    assert [o.item_id for o in (over_tone, broken, music)] == [p.stem for p in clips]
    labels = [t["label"] for t in over_tone.data["tags"]]
    assert "Speech" in labels
    assert "Speech (0." in over_tone.text

    assert not broken.ok and "cannot decode" in (broken.error or "")

    assert music.data["tags"][0]["label"] == "Music"
    assert music.text.startswith("Music (0.")

    for output in (over_tone, music):
        scores = [t["score"] for t in output.data["tags"]]
        assert scores == sorted(scores, reverse=True)
        assert 0 < len(scores) <= 5 and min(scores) >= 0.1
        assert output.data["patches"] == 7  # 4 s of audio: 0.96 s windows every 0.48 s
