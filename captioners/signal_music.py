"""Key and chord estimates from a chromagram by template matching (used by captioners.signal)."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

PITCH_CLASSES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

# Krumhansl-Kessler key profiles (probe-tone ratings), tonic first.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

CHORD_QUALITIES: dict[str, tuple[int, ...]] = {
    "": (0, 4, 7),  # major
    "m": (0, 3, 7),
    "dim": (0, 3, 6),
    "7": (0, 4, 7, 10),
}
"""Triads and the dominant seventh. (An augmented triad is left out: its three inversions hold the
same pitch classes, so its root can never be told from chroma.)"""

KEY_MIN_CORRELATION = 0.7
KEY_MIN_MARGIN = 0.1
CHORD_MIN_SIMILARITY = 0.85
CHORD_MIN_MARGIN = 0.05
CHORD_MIN_SECONDS = 0.25

Chroma = npt.NDArray[Any]


@dataclass(frozen=True)
class Key:
    """A key estimate. Confident when the best of the 24 major/minor profiles correlates with the
    clip's average chroma at `KEY_MIN_CORRELATION` or more and beats the runner-up by
    `KEY_MIN_MARGIN`."""

    name: str
    correlation: float
    runner_up: str
    margin: float

    @property
    def confident(self) -> bool:
        return self.correlation >= KEY_MIN_CORRELATION and self.margin >= KEY_MIN_MARGIN

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "confident": self.confident}


@dataclass(frozen=True)
class Chord:
    """A chord over one stretch between onsets. Confident when the stretch's chroma matches the
    best triad template with cosine similarity `CHORD_MIN_SIMILARITY` or more and beats any other
    chord by `CHORD_MIN_MARGIN`."""

    name: str
    start: float
    end: float
    similarity: float
    margin: float

    @property
    def confident(self) -> bool:
        return self.similarity >= CHORD_MIN_SIMILARITY and self.margin >= CHORD_MIN_MARGIN

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "confident": self.confident}


def estimate_key(chroma: Chroma) -> Key:
    """The major or minor key whose profile best fits the average of a [12, frames] chromagram."""
    profile = chroma.mean(axis=1) - chroma.mean()
    spread = float(np.linalg.norm(profile))
    scores: list[tuple[float, str]] = []
    for tonic in range(12):
        for mode, template in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
            centred = np.roll(template, tonic) - template.mean()
            r = float(profile @ centred / (spread * np.linalg.norm(centred))) if spread > 0 else 0.0
            scores.append((r, f"{PITCH_CLASSES[tonic]} {mode}"))
    scores.sort(reverse=True)
    (best, name), (second, runner_up) = scores[0], scores[1]
    return Key(name, round(best, 3), runner_up, round(best - second, 3))


def _templates() -> tuple[list[str], npt.NDArray[np.float64]]:
    names, rows = [], []
    for root in range(12):
        for suffix, intervals in CHORD_QUALITIES.items():
            row = np.zeros(12)
            row[[(root + i) % 12 for i in intervals]] = 1.0
            names.append(PITCH_CLASSES[root] + suffix)
            rows.append(row / np.linalg.norm(row))
    return names, np.array(rows)


def estimate_chords(
    chroma: Chroma, onset_frames: npt.NDArray[Any], *, frame_s: float
) -> list[Chord]:
    """One chord per stretch between onsets (stretches under `CHORD_MIN_SECONDS` are skipped);
    neighbours with the same chord are merged."""
    names, templates = _templates()
    frames = chroma.shape[1]
    bounds = sorted({0, frames, *(int(f) for f in onset_frames if 0 < f < frames)})
    chords: list[Chord] = []
    for a, b in itertools.pairwise(bounds):
        if (b - a) * frame_s < CHORD_MIN_SECONDS:
            continue
        mean = chroma[:, a:b].mean(axis=1)
        norm = np.linalg.norm(mean)
        if norm == 0:
            continue
        similarity = templates @ (mean / norm)
        order = np.argsort(-similarity)
        chord = Chord(
            names[order[0]],
            round(a * frame_s, 2),
            round(b * frame_s, 2),
            round(float(similarity[order[0]]), 3),
            round(float(similarity[order[0]] - similarity[order[1]]), 3),
        )
        if chords and chords[-1].name == chord.name:
            last = chords[-1]
            chord = Chord(
                last.name,
                last.start,
                chord.end,
                max(last.similarity, chord.similarity),
                min(last.margin, chord.margin),
            )
            chords[-1] = chord
        else:
            chords.append(chord)
    return chords
