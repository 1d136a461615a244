"""Test audio for the front-end components, made on the spot: espeak-ng speech, tones, clicks.

Everything but speech is synthesised with numpy, so the expected answer is known by construction.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from cascade.core import Clip, StageInput, resample

RATE = 16000
Wave = npt.NDArray[np.float32]

SENTENCE = "Please open the door and turn on the light."
"""Whisper tiny.en transcribes espeak-ng's rendering of this sentence word for word."""
SENTENCE_2 = "My name is John and I live in London."

NOTES = {"C4": 261.63, "E4": 329.63, "F4": 349.23, "G4": 392.0, "A4": 440.0, "B4": 493.88,
         "C5": 523.25, "D5": 587.33}  # fmt: skip
PROGRESSION = [("C4", "E4", "G4"), ("F4", "A4", "C5"), ("G4", "B4", "D5"), ("C4", "E4", "G4")]
"""C, F, G, C: a progression in C major, one chord per second."""


def speech(text: str, *, voice: str = "en") -> Wave:
    """espeak-ng speaking `text`, at 16 kHz. Skipped where espeak-ng is missing, except in CI."""
    if shutil.which("espeak-ng") is None:
        if os.environ.get("CI"):
            pytest.fail("espeak-ng is missing: apt-get install -y espeak-ng")
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng)")
    out = subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "140", "--stdout", text],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"espeak-{os.getpid()}-{abs(hash(text))}.wav"
    path.write_bytes(out)
    try:
        samples, rate = sf.read(str(path), dtype="float32")
    finally:
        path.unlink(missing_ok=True)
    return resample(np.asarray(samples, dtype=np.float32), rate, RATE)


def tone(frequency: float, seconds: float, amplitude: float = 0.05) -> Wave:
    t = np.arange(int(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def silence(seconds: float) -> Wave:
    return np.zeros(int(seconds * RATE), dtype=np.float32)


def clicks(bpm: float, seconds: float) -> Wave:
    """A metronome: 10 ms bursts of 1 kHz at `bpm` beats per minute, the first at 0 s."""
    out = silence(seconds)
    burst = tone(1000.0, 0.01, 0.8) * np.hanning(int(0.01 * RATE)).astype(np.float32)
    for start in np.arange(0.0, seconds - 0.02, 60.0 / bpm):
        i = int(start * RATE)
        out[i : i + len(burst)] += burst
    return out


def plucked(frequency: float, seconds: float) -> Wave:
    """A plucked string: decaying harmonics, the higher ones dying faster."""
    t = np.arange(int(seconds * RATE)) / RATE
    note = sum(
        (0.6**k) * np.exp(-t * (2.0 + 1.5 * k)) * np.sin(2 * np.pi * (k + 1) * frequency * t)
        for k in range(6)
        if (k + 1) * frequency < RATE / 2
    )
    return np.asarray(0.25 * note, dtype=np.float32)


def chords(progression: Sequence[Sequence[str]], seconds_each: float = 1.0) -> Wave:
    return np.concatenate(
        [sum(plucked(NOTES[n], seconds_each) for n in chord) for chord in progression]
    ).astype(np.float32)


def mix(*parts: Wave) -> Wave:
    """Parts summed (the shorter ones padded with silence at the end)."""
    out = silence(max(len(p) for p in parts) / RATE)
    for p in parts:
        out[: len(p)] += p
    return out


def write(path: Path, samples: Wave, rate: int = RATE) -> Path:
    sf.write(str(path), samples, rate)
    return path


def corrupt(path: Path) -> Path:
    """A file named like audio that holds no audio."""
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(range(256)) * 4)
    return path


def item(path: Path, item_id: str | None = None) -> StageInput:
    return StageInput(item_id=item_id or path.stem, clip=Clip(path))


def word_list(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() else " " for c in text).split()
