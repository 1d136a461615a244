"""The shipped demo benchmark: it loads like MMAR, covers MMAR's groups, and its answers are facts
of the audio (measured here with numpy), not just of the script that wrote them."""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf

from cascade.core import BenchmarkSpec, Item, benchmark_by_name, read_records

load_demo = benchmark_by_name("demo").load
load_mmar = benchmark_by_name("mmar").load


def shipped_file(benchmark: str, *parts: str) -> Path:
    """A file shipped with a benchmark (its metadata, its audio)."""
    return benchmark_by_name(benchmark).data_file(*parts)


RATE = 16_000
HOP = 160  # 10 ms frames
FRAME = 1024
MODALITIES = {
    "sound",
    "music",
    "speech",
    "mix-sound-music",
    "mix-sound-speech",
    "mix-music-speech",
    "mix-sound-music-speech",
}
LAYERS = {"Signal Layer", "Perception Layer", "Semantic Layer", "Cultural Layer"}
THIRDS = {"Near the beginning": 0, "In the middle": 1, "Near the end": 2}
MORSE = {"---": "O", "-.-": "K", "...": "S", "....": "H", "..": "I", "-.": "N"}

Signal = npt.NDArray[np.float64]


@pytest.fixture(scope="module")
def items() -> dict[str, Item]:
    benchmark = load_demo(BenchmarkSpec())
    assert not benchmark.skipped
    return {item.id: item for item in benchmark.items}


def audio(item: Item) -> Signal:
    assert item.audio is not None
    samples, rate = sf.read(str(item.audio), dtype="float64")
    assert rate == RATE
    return np.asarray(samples)


# --- measurements ---------------------------------------------------------------------------


def spectrogram(x: Signal) -> Signal:
    """Magnitude STFT, frames of 1024 samples every 10 ms, shape [frames, bins]."""
    padded = np.concatenate([x, np.zeros(FRAME)])
    starts = np.arange(0, len(x), HOP)
    frames = np.stack([padded[s : s + FRAME] for s in starts]) * np.hanning(FRAME)
    return np.abs(np.fft.rfft(frames, axis=1))


def bin_hz(index: float) -> float:
    return index * RATE / FRAME


def band(spec: Signal, lo: float, hi: float) -> Signal:
    """Energy per frame between lo and hi Hz."""
    freqs = np.fft.rfftfreq(FRAME, 1 / RATE)
    return np.asarray((spec[:, (freqs >= lo) & (freqs <= hi)] ** 2).sum(axis=1))


def peak_hz(x: Signal, lo: float = 50, hi: float = 7900) -> float:
    """The strongest frequency of a whole signal, to a fraction of a hertz (zero-padded FFT)."""
    n = 1 << int(np.ceil(np.log2(len(x) * 4)))
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[(freqs < lo) | (freqs > hi)] = 0
    return float(freqs[int(np.argmax(spectrum))])


def steady_hz(x: Signal) -> float:
    """The frequency that persists through the clip: the peak of the median spectrum over time,
    where a voice, which moves, fades out and a steady tone stays."""
    spec = spectrogram(x)
    loud = spec.sum(axis=1) > 0.05 * spec.sum(axis=1).max()
    return bin_hz(float(np.argmax(np.median(spec[loud], axis=0))))


def runs(active: npt.NDArray[np.bool_], bridge: int = 3) -> list[tuple[int, int]]:
    """(start, end) frame indices of the stretches where `active` holds; gaps shorter than
    `bridge` frames are closed first."""
    found: list[tuple[int, int]] = []
    start = None
    for i, on in enumerate([*active, False]):
        if on and start is None:
            start = found.pop()[0] if found and i - found[-1][1] < bridge else i
        elif not on and start is not None:
            found.append((start, i))
            start = None
    return found


def events(energy: Signal, threshold: float = 0.1) -> list[tuple[int, int]]:
    """Stretches of frames whose energy is above `threshold` times the loudest frame."""
    return runs(energy > threshold * energy.max())


def frame_energy(x: Signal) -> Signal:
    frames = len(x) // HOP
    return np.asarray((x[: frames * HOP].reshape(frames, HOP) ** 2).mean(axis=1))


def onsets(x: Signal) -> npt.NDArray[np.int64]:
    """Frames where a new note starts: peaks of the positive spectral flux."""
    spec = np.log1p(spectrogram(x) * 10)
    flux = np.maximum(np.diff(spec, axis=0), 0).sum(axis=1)
    threshold = 0.3 * flux.max()
    peaks = [
        i + 1
        for i in range(1, len(flux) - 1)
        if flux[i] > threshold and flux[i] >= flux[i - 1] and flux[i] > flux[i + 1]
    ]
    kept: list[int] = []
    for p in peaks:  # one onset per 50 ms
        if not kept or p - kept[-1] > 5:
            kept.append(p)
    return np.asarray(kept)


def bpm(frames: npt.NDArray[np.int64]) -> float:
    return 60.0 / float(np.median(np.diff(frames)) * HOP / RATE)


def triad(x: Signal) -> list[int]:
    """Semitones above the lowest of the three strongest pitches between 200 and 420 Hz."""
    n = 1 << int(np.ceil(np.log2(len(x) * 2)))
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x)), n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[(freqs < 200) | (freqs > 420)] = 0
    pitches: list[float] = []
    for i in np.argsort(spectrum)[::-1]:
        if all(abs(12 * np.log2(freqs[i] / p)) > 0.5 for p in pitches):
            pitches.append(float(freqs[i]))
        if len(pitches) == 3:
            break
    low = min(pitches)
    return sorted(round(12 * np.log2(p / low)) for p in pitches)


QUALITY: dict[tuple[int, ...], str] = {(0, 4, 7): "Major", (0, 3, 7): "Minor"}


# --- the benchmark as a whole ---------------------------------------------------------------


def test_demo_loads_and_covers_every_modality_and_layer(items: dict[str, Item]) -> None:
    assert 25 <= len(items) <= 40
    assert {i.modality for i in items.values()} == MODALITIES
    assert {i.category for i in items.values()} == LAYERS


def test_ids_unique_and_files_named_after_them() -> None:
    records = read_records(shipped_file("demo", "meta.jsonl"))
    ids = [r["id"] for r in records]
    assert len(set(ids)) == len(ids)
    assert all(r["audio_path"] == f"./audio/{r['id']}.flac" for r in records)


def test_records_have_mmars_fields_and_conventions() -> None:
    mmar = json.loads(shipped_file("mmar", "MMAR-meta.jsonl").read_text().splitlines()[0])
    mmar_sub_categories = {
        r["sub-category"] for r in read_records(shipped_file("mmar", "MMAR-meta.jsonl"))
    }
    for record in read_records(shipped_file("demo", "meta.jsonl")):
        assert list(record) == list(mmar), record["id"]
        assert record["sub-category"] in mmar_sub_categories, record["id"]
        assert record["source"] == "synthetic" and record["url"] is None
        assert record["language"] == ("en" if "speech" in record["modality"] else None)
        assert 2 <= len(record["choices"]) <= 6
        assert record["cue"] and len(record["rubric"]) == len(record["cue"]) + 1
        assert all(
            set(point) == {"name", "scoring_point", "note", "choices"} for point in record["rubric"]
        )


def test_meta_round_trips_through_mmars_loader(items: dict[str, Item]) -> None:
    demo = shipped_file("demo", "meta.jsonl")
    mmar = load_mmar(BenchmarkSpec(name="mmar", meta=demo, audio_root=demo.parent))
    assert [i.id for i in mmar.items] == list(items)
    for item in mmar.items:
        shipped = items[item.id]
        assert (item.question, item.choices, item.answer, item.audio) == (
            shipped.question,
            shipped.choices,
            shipped.answer,
            shipped.audio,
        )
        assert (item.modality, item.category, item.sub_category, item.language) == (
            shipped.modality,
            shipped.category,
            shipped.sub_category,
            shipped.language,
        )


def test_every_clip_is_16k_mono_flac_of_2_to_10_seconds(items: dict[str, Item]) -> None:
    total = 0
    for item in items.values():
        assert item.audio is not None
        info = sf.info(str(item.audio))
        assert (info.format, info.samplerate, info.channels) == ("FLAC", RATE, 1), item.id
        x = audio(item)
        assert 2.0 <= len(x) / RATE <= 10.0, item.id
        assert np.all(np.isfinite(x)) and 0.5 < np.abs(x).max() <= 1.0, item.id
        total += item.audio.stat().st_size
    assert total < 5_000_000
    shipped = {p.name for p in shipped_file("demo", "audio").iterdir()}
    assert shipped == {f"{i}.flac" for i in items}  # no stray files


def words(text: str) -> set[str]:
    return set(re.findall(r"\b\w+\b", text.lower()))


def test_questions_do_not_give_the_answer_away(items: dict[str, Item]) -> None:
    # The words that single out the answer may appear in the question only when every other
    # choice's own words do too ("Is the chord major or minor?").
    for item in items.values():
        asked = words(item.question)
        own = [
            words(c) - set().union(*(words(o) for o in item.choices if o != c))
            for c in item.choices
        ]
        named = [bool(w) and w <= asked for w in own]
        assert not named[item.answer_index] or all(named), item.id


def test_answer_positions_are_balanced(items: dict[str, Item]) -> None:
    four = Counter(i.answer_index for i in items.values() if len(i.choices) == 4)
    n = sum(four.values())
    assert set(four) == {0, 1, 2, 3}
    assert max(four.values()) - min(four.values()) <= 2, four
    assert all(abs(count - n / 4) <= 2 for count in four.values()), four
    overall = Counter(i.answer_index for i in items.values())
    assert max(overall.values()) <= 0.35 * len(items), overall
    sizes = Counter(len(i.choices) for i in items.values())
    assert sizes[4] > len(items) / 2 and sizes[2] >= 1 and sizes[3] + sizes[5] + sizes[6] >= 1


def load_script() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "scripts" / "make_demo.py"
    spec = importlib.util.spec_from_file_location("make_demo", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their annotations through it
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def test_the_script_still_writes_the_committed_metadata() -> None:
    built: list[dict[str, Any]] = load_script().build_meta()
    assert built == read_records(shipped_file("demo", "meta.jsonl"))


# --- answers measured on the audio ----------------------------------------------------------


@pytest.mark.parametrize("item_id", ["demo-tone-frequency", "demo-speech-over-tone"])
def test_tone_frequency_is_the_answer(items: dict[str, Item], item_id: str) -> None:
    claimed = float(items[item_id].answer.removesuffix(" Hz"))
    measured = steady_hz(audio(items[item_id]))
    assert abs(measured - claimed) <= RATE / FRAME, (measured, claimed)
    if item_id == "demo-tone-frequency":
        assert peak_hz(audio(items[item_id])) == pytest.approx(claimed, rel=0.002)


def test_pitch_comparison(items: dict[str, Item]) -> None:
    item = items["demo-pitch-compare"]
    x = audio(item)
    tones = events(frame_energy(x))
    assert len(tones) == 2
    first, second = (peak_hz(x[a * HOP : b * HOP]) for a, b in tones)
    expected = {
        "The second tone is lower": second < first / 1.05,
        "The second tone is higher": second > first * 1.05,
        "Both tones have the same pitch": abs(second / first - 1) < 0.05,
    }
    assert expected[item.answer], (first, second)


@pytest.mark.parametrize(
    ("item_id", "band_hz"),
    [("demo-beep-count", (950, 1050)), ("demo-music-with-beeps", (2450, 2550))],
)
def test_beep_count_is_the_answer(
    items: dict[str, Item], item_id: str, band_hz: tuple[float, float]
) -> None:
    energy = band(spectrogram(audio(items[item_id])), *band_hz)
    assert len(events(energy, threshold=0.2)) == int(items[item_id].answer)


def test_announced_beeps_fall_one_short(items: dict[str, Item]) -> None:
    # The voice announces four sounds (the script's sentence); count the pure 1.5 kHz beeps.
    item = items["demo-announced-beeps"]
    spec = spectrogram(audio(item))
    purity = band(spec, 1450, 1550) / np.maximum(band(spec, 0, 8000), 1e-12)
    beeps = runs(purity > 0.8)
    assert len(beeps) == 3
    assert item.answer == "No, there is one fewer than announced"


def test_loudness_rises_steadily(items: dict[str, Item]) -> None:
    item = items["demo-loudness-trend"]
    energy = frame_energy(audio(item))
    (start, end), *rest = events(energy, threshold=1e-4)
    assert not rest
    windows = np.array_split(energy[start:end], 10)
    levels = [10 * np.log10(w.mean()) for w in windows]
    assert all(b > a for a, b in itertools.pairwise(levels)), levels
    assert levels[-1] - levels[0] > 20
    assert item.answer == "It gets steadily louder"


def test_fade_over_hiss(items: dict[str, Item]) -> None:
    item = items["demo-fade-over-hiss"]
    spec = spectrogram(audio(item))
    music, hiss = band(spec, 100, 2000), band(spec, 5000, 8000)
    second = RATE // HOP

    def drop_db(energy: Signal) -> float:
        return float(10 * np.log10(energy[:second].mean() / energy[-second:].mean()))

    assert drop_db(music) > 25
    assert abs(drop_db(hiss)) < 3
    assert item.answer == "The music fades out while the hiss stays steady"


@pytest.mark.parametrize(
    ("item_id", "find"),
    [
        # a gap of silence inside the tone
        ("demo-tone-dropout", lambda x: runs(frame_energy(x) < 1e-6)),
        # a burst of broadband noise over the (band-limited) plucked notes
        ("demo-noise-burst", lambda x: events(band(spectrogram(x), 7000, 8000), 0.3)),
    ],
)
def test_anomaly_is_where_the_answer_says(
    items: dict[str, Item], item_id: str, find: Callable[[Signal], list[tuple[int, int]]]
) -> None:
    x = audio(items[item_id])
    found = find(x)
    inner = [(a, b) for a, b in found if a > 0 and b < len(x) // HOP - 1]
    assert len(inner) == 1, found
    middle = sum(inner[0]) / 2 * HOP / len(x)
    assert int(middle * 3) == THIRDS[items[item_id].answer], middle


def test_counting_pause_is_one_long_silence(items: dict[str, Item]) -> None:
    x = audio(items["demo-counting-pause"])
    energy = frame_energy(x)
    quiet = runs(energy < 1e-3 * energy.max(), bridge=1)
    inner = [(a, b) for a, b in quiet if a > 0 and b < len(energy) - 1 and b - a >= 100]
    assert len(inner) == 1, quiet


@pytest.mark.parametrize(
    ("item_id", "tempo"),
    [("demo-click-tempo", None), ("demo-tempo-marking", (120, 156)), ("demo-music-mood", (55, 65))],
)
def test_tempo(items: dict[str, Item], item_id: str, tempo: tuple[float, float] | None) -> None:
    item = items[item_id]
    measured = bpm(onsets(audio(item)))
    if tempo is None:
        assert measured == pytest.approx(float(item.answer.removesuffix(" BPM")), abs=1)
    else:
        assert tempo[0] <= measured <= tempo[1], measured


def test_chord_quality(items: dict[str, Item]) -> None:
    item = items["demo-chord-quality"]
    assert QUALITY.get(tuple(triad(audio(item)))) == item.answer


def test_sad_music_is_minor(items: dict[str, Item]) -> None:
    item = items["demo-music-mood"]
    assert QUALITY.get(tuple(triad(audio(item)))) == "Minor"
    assert item.answer == "Sad and sombre"


def test_dissonant_chord(items: dict[str, Item]) -> None:
    item = items["demo-dissonance"]
    x = audio(item)
    energy = frame_energy(x)
    chords = runs(energy > 1e-4 * energy.max(), bridge=20)  # the cluster's beating dips in level
    assert len(chords) == 2
    first, second = (triad(x[a * HOP : b * HOP]) for a, b in chords)
    assert (first, second) == ([0, 1, 2], [0, 4, 7])  # a semitone cluster, then a major triad
    assert item.answer == "The first chord"


def test_scale_falls(items: dict[str, Item]) -> None:
    item = items["demo-scale-direction"]
    x = audio(item)
    notes = onsets(x)
    assert len(notes) == 8
    pitches = [peak_hz(x[n * HOP + 160 : n * HOP + 3200], 200, 600) for n in notes]
    assert all(b < a for a, b in itertools.pairwise(pitches)), pitches
    assert item.answer == "It falls step by step through a scale"


def test_morse_code_spells_the_answer(items: dict[str, Item]) -> None:
    item = items["demo-morse-word"]
    marks = events(frame_energy(audio(item)))
    unit = min(b - a for a, b in marks)
    words, letter, word = [], "", ""
    for k, (a, b) in enumerate(marks):
        letter += "-" if b - a > 2 * unit else "."
        gap = marks[k + 1][0] - b if k + 1 < len(marks) else 100 * unit
        if gap > 2 * unit:
            word, letter = word + MORSE[letter], ""
        if gap > 5 * unit:
            words.append(word)
            word = ""
    assert words == [item.answer, item.answer]
