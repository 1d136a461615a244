"""Generate the bundled demo benchmark: MMAR-format items whose answers are known by construction.

Every clip is synthesised here: tones, plucked notes and chords, clicks, beeps and noise with numpy
(seeded), speech with Debian's `espeak-ng`. The answer of each item is a fact of the audio that
this script put there (a frequency, a tempo, a count, a loudness trend, a chord quality, spoken
words), and `tests/test_demo_benchmark.py` measures the audio to check it.

    python scripts/make_demo.py            # rewrites cascade/core/benchmarks/demo/ (meta, audio)
    python scripts/make_demo.py --out DIR  # somewhere else

Needs `espeak-ng` on the PATH (`apt-get install espeak-ng`). The metadata does not depend on the
audio tools; the speech audio may differ bit-wise between espeak-ng versions.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf
from scipy import signal

SEED = 20261122
RATE = 16_000
PEAK = 0.89
"""Every clip is scaled to this peak (about -1 dBFS), so levels are comparable across items."""
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "cascade" / "core" / "benchmarks" / "demo"

Audio = npt.NDArray[np.float64]

MALE = "en-us+m3"
MALE_2 = "en-us+m1"
FEMALE = "en-us+f2"
FEMALE_2 = "en-us+f4"
BRITISH = "en-gb"
SPEED = 130
"""Words per minute: slower than espeak's default (175); Whisper tiny.en transcribes it better."""


# ---------------------------------------------------------------------------------------------
# Synthesis
# ---------------------------------------------------------------------------------------------


def hz(note: str) -> float:
    """Equal-tempered frequency of a note name such as "C4", "F#3" or "Bb4" (A4 = 440 Hz)."""
    steps = {"C": -9, "D": -7, "E": -5, "F": -4, "G": -2, "A": 0, "B": 2}[note[0]]
    rest = note[1:]
    if rest.startswith("#"):
        steps, rest = steps + 1, rest[1:]
    elif rest.startswith("b"):
        steps, rest = steps - 1, rest[1:]
    return 440.0 * 2 ** ((steps + 12 * (int(rest) - 4)) / 12)


def samples(seconds: float) -> int:
    return round(seconds * RATE)


def times(seconds: float) -> Audio:
    return np.arange(samples(seconds)) / RATE


def fade(audio: Audio, seconds: float = 0.01) -> Audio:
    """Raised-cosine fade in and out, so that tones start and stop without clicks."""
    n = min(samples(seconds), len(audio) // 2)
    if n == 0:
        return audio
    ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, n))
    out = audio.copy()
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


def silence(seconds: float) -> Audio:
    return np.zeros(samples(seconds))


def tone(freq: float | Sequence[float], seconds: float, amp: float = 0.5) -> Audio:
    """A steady sine tone (or the sum of several, each at `amp`)."""
    t = times(seconds)
    freqs = [freq] if isinstance(freq, int | float) else list(freq)
    return fade(sum((amp * np.sin(2 * np.pi * f * t) for f in freqs), np.zeros(len(t))))


def pluck(freq: float, seconds: float, amp: float = 0.3) -> Audio:
    """A plucked-string note: harmonics at 1/h, higher ones dying away faster."""
    t = times(seconds)
    out = np.zeros(len(t))
    for h in range(1, 9):
        if h * freq >= 7000:
            break
        out += (amp / h) * np.exp(-t * (2.0 + 1.5 * h)) * np.sin(2 * np.pi * h * freq * t)
    return fade(out, 0.004)


def strum(notes: Sequence[str], seconds: float, amp: float = 0.25, gap: float = 0.02) -> Audio:
    """A chord plucked from the lowest note up, `gap` seconds between strings."""
    out = silence(seconds)
    for k, note in enumerate(notes):
        start = samples(k * gap)
        out[start:] += pluck(hz(note), seconds - k * gap, amp)[: len(out) - start]
    return out


def bell(freq: float, seconds: float, amp: float = 0.4) -> Audio:
    """A struck bell (doorbell chime): a few slightly inharmonic partials with long decay."""
    t = times(seconds)
    partials = ((1.0, 1.0, 1.2), (2.76, 0.35, 2.5), (5.4, 0.15, 4.0))
    out = sum(
        (a * amp * np.exp(-t * d) * np.sin(2 * np.pi * freq * r * t) for r, a, d in partials),
        np.zeros(len(t)),
    )
    return fade(out, 0.003)


def click(accent: bool = False) -> Audio:
    """A metronome tick: a short decaying sine, higher on the accented beat."""
    t = times(0.04)
    freq = 2000.0 if accent else 1500.0
    return fade(0.8 * np.exp(-t * 120) * np.sin(2 * np.pi * freq * t), 0.001)


def noise(rng: np.random.Generator, seconds: float, amp: float, band: str = "full") -> Audio:
    """White noise with standard deviation `amp`; `band` "high" keeps only what is above 4 kHz,
    "clap" a 1-3 kHz band."""
    out = rng.standard_normal(samples(seconds)) * amp
    if band == "high":
        out = signal.sosfilt(signal.butter(6, 4000, "highpass", fs=RATE, output="sos"), out)
    elif band == "clap":
        out = signal.sosfilt(signal.butter(4, [1000, 3000], "bandpass", fs=RATE, output="sos"), out)
    return fade(np.asarray(out, dtype=np.float64), 0.005)


def place(length: float, *parts: tuple[float, Audio]) -> Audio:
    """Mix each (start in seconds, audio) into a clip `length` seconds long."""
    out = silence(length)
    for start, audio in parts:
        at = samples(start)
        end = min(len(out), at + len(audio))
        out[at:end] += audio[: end - at]
    return out


def concat(*parts: Audio) -> Audio:
    return np.concatenate(parts)


def rms(audio: Audio) -> float:
    return float(np.sqrt(np.mean(audio**2)))


def at_level(audio: Audio, target_rms: float) -> Audio:
    return audio * (target_rms / max(rms(audio), 1e-12))


def ramp_db(audio: Audio, start_db: float, end_db: float) -> Audio:
    """Change the level linearly in decibels from the first sample to the last."""
    return audio * 10 ** (np.linspace(start_db, end_db, len(audio)) / 20)


def arpeggio(notes: Sequence[str], bpm: float, beats: int, amp: float = 0.3) -> Audio:
    """One plucked note per beat, cycling through `notes`; each note rings for two beats."""
    beat = 60.0 / bpm
    parts = [(k * beat, pluck(hz(notes[k % len(notes)]), 2 * beat, amp)) for k in range(beats)]
    return place(beats * beat + beat, *parts)


def progression(chords: Sequence[Sequence[str]], seconds_each: float, amp: float = 0.22) -> Audio:
    """Strummed chords, one every `seconds_each` seconds, each ringing on into the next."""
    parts = [(k * seconds_each, strum(c, seconds_each * 1.5, amp)) for k, c in enumerate(chords)]
    return place(len(chords) * seconds_each + 0.5, *parts)


def beeps(starts: Sequence[float], freq: float, length: float, seconds: float = 0.12) -> Audio:
    return place(length, *((s, tone(freq, seconds, 0.5)) for s in starts))


MORSE = {"O": "---", "K": "-.-", "S": "...", "H": "....", "I": "..", "N": "-.", "E": "."}


def morse(word: str, unit: float, freq: float = 700.0) -> Audio:
    """International Morse code: dot 1 unit, dash 3, 1 unit inside a letter, 3 between letters."""
    parts: list[Audio] = []
    for i, letter in enumerate(word):
        if i:
            parts.append(silence(2 * unit))  # with the trailing unit below: 3 units between letters
        for symbol in MORSE[letter]:
            parts.append(tone(freq, unit * (3 if symbol == "-" else 1), 0.5))
            parts.append(silence(unit))
    return concat(*parts)


class Studio:
    """What the render functions draw on: the seeded noise source and the speech synthesiser."""

    def __init__(self, rng: np.random.Generator, workdir: Path) -> None:
        self.rng = rng
        self.workdir = workdir

    def speak(self, text: str, voice: str, speed: int = SPEED, level: float = 0.12) -> Audio:
        """espeak-ng speech at 16 kHz, silence trimmed from both ends, at RMS `level`."""
        wav = self.workdir / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text],
            check=True,
            capture_output=True,
        )
        audio, rate = sf.read(str(wav), dtype="float64", always_2d=True)
        mono = audio.mean(axis=1)
        divisor = math.gcd(RATE, int(rate))
        mono = signal.resample_poly(mono, RATE // divisor, int(rate) // divisor)
        loud = np.flatnonzero(np.abs(mono) > 0.02 * np.abs(mono).max())
        mono = mono[max(loud[0] - samples(0.02), 0) : loud[-1] + samples(0.05)]
        return at_level(fade(mono, 0.01), level)


# ---------------------------------------------------------------------------------------------
# Items
# ---------------------------------------------------------------------------------------------

Render = Callable[[Studio], Audio]


@dataclass(frozen=True)
class Ladder:
    """Numeric choices in ascending order, `step` apart (or a `ratio` apart), e.g. "100 BPM"."""

    value: float
    count: int = 4
    step: float = 1
    ratio: float | None = None
    template: str = "{}"
    lowest: float = 1

    def choices(self, position: int) -> list[str] | None:
        """The choices with the answer at `position`; None when they would go below `lowest`."""
        k = np.arange(self.count, dtype=np.float64) - position
        values = self.value * self.ratio**k if self.ratio else self.value + self.step * k
        if values.min() < self.lowest:
            return None
        return [self.template.format(f"{v:g}") for v in values]


@dataclass(frozen=True)
class Spec:
    """One item as written: what the clip is, what is asked, and what a listener should notice."""

    id: str
    modality: str
    category: str
    sub_category: str
    question: str
    answer: str | Ladder
    distractors: tuple[str, ...]
    thinking: str
    cues: tuple[tuple[str, str], ...]
    """(short cue name, what a listener has to notice) pairs; the rubric is built from them."""
    render: Render = field(compare=False, repr=False)
    speech: bool = False

    @property
    def answer_text(self) -> str:
        if isinstance(self.answer, Ladder):
            return self.answer.template.format(f"{self.answer.value:g}")
        return self.answer

    @property
    def choice_count(self) -> int:
        return self.answer.count if isinstance(self.answer, Ladder) else len(self.distractors) + 1

    def choices(self, position: int, rng: np.random.Generator) -> list[str] | None:
        if isinstance(self.answer, Ladder):
            return self.answer.choices(position)
        others = [self.distractors[i] for i in rng.permutation(len(self.distractors))]
        return [*others[:position], self.answer, *others[position:]]


def _tone_frequency(s: Studio) -> Audio:
    return concat(silence(0.3), tone(800, 3.0), silence(0.3))


def _beep_count(s: Studio) -> Audio:
    gaps = s.rng.uniform(0.35, 0.7, size=6)
    starts = [0.4 + float(t) for t in np.concatenate([[0.0], np.cumsum(gaps)])]
    return beeps(starts, 1000, starts[-1] + 0.6)


def _loudness_trend(s: Studio) -> Audio:
    hiss = signal.sosfilt(signal.butter(2, 2500, fs=RATE, output="sos"), noise(s.rng, 5.0, 0.3))
    return concat(silence(0.2), fade(ramp_db(np.asarray(hiss), -30, 0), 0.05), silence(0.2))


def _tone_dropout(s: Studio) -> Audio:
    return concat(silence(0.2), tone(600, 4.6), silence(0.4), tone(600, 0.8), silence(0.2))


def _pitch_compare(s: Studio) -> Audio:
    return concat(silence(0.3), tone(880, 1.5), silence(0.5), tone(440, 1.5), silence(0.3))


def _morse(s: Studio) -> Audio:
    word = morse("OK", unit=0.09)
    return concat(silence(0.4), word, silence(0.6), word, silence(0.4))


def _doorbell(s: Studio) -> Audio:
    ring = place(2.2, (0.0, bell(hz("E5"), 1.6)), (0.6, bell(hz("C5"), 1.6)))
    return concat(silence(0.2), ring, silence(0.4), ring)


def _chord_quality(s: Studio) -> Audio:
    return progression([("C4", "Eb4", "G4")] * 4, 1.2)


def _minor_mood(s: Studio) -> Audio:
    return arpeggio(["A3", "C4", "E4", "C4"], bpm=60, beats=7, amp=0.3)


def _click_tempo(s: Studio) -> Audio:
    beat = 60 / 100
    return place(8.0, *((0.2 + k * beat, click(k % 4 == 0)) for k in range(13)))


def _falling_scale(s: Studio) -> Audio:
    notes = ["C5", "B4", "A4", "G4", "F4", "E4", "D4", "C4"]
    return place(4.6, *((0.2 + 0.5 * k, pluck(hz(n), 0.9)) for k, n in enumerate(notes)))


def _tempo_marking(s: Studio) -> Audio:
    return arpeggio(["C3", "G3", "E4", "G3"], bpm=132, beats=16)


def _dissonance(s: Studio) -> Audio:
    return concat(
        silence(0.2),
        strum(("C4", "C#4", "D4"), 2.0),
        silence(0.4),
        strum(("C4", "E4", "G4"), 2.0),
        silence(0.2),
    )


def _meeting_place(s: Studio) -> Audio:
    speech = s.speak("Please meet me at the train station at five o'clock.", MALE)
    return concat(silence(0.3), speech, silence(0.3))


def _fruit_total(s: Studio) -> Audio:
    speech = s.speak("I bought three apples and two oranges at the market.", FEMALE, 120)
    return concat(silence(0.3), speech, silence(0.3))


def _counting_pause(s: Studio) -> Audio:
    return concat(
        silence(0.3),
        s.speak("One, two, three.", MALE),
        silence(1.6),
        s.speak("Four, five.", MALE),
        silence(0.3),
    )


def _warning(s: Studio) -> Audio:
    speech = s.speak("Watch out! The floor is wet. Please do not run.", MALE)
    return concat(silence(0.3), speech, silence(0.3))


def _speaker_count(s: Studio) -> Audio:
    return concat(
        silence(0.2),
        s.speak("Can you help me carry this box?", "en-us"),
        silence(0.4),
        s.speak("Sure, I will be there in one minute.", FEMALE),
        silence(0.4),
        s.speak("Thanks, I will wait for you by the door.", "en-us"),
        silence(0.2),
    )


def _british(s: Studio) -> Audio:
    text = "I left my umbrella in the flat, so I took the lift down and bought some crisps."
    return concat(silence(0.3), s.speak(text, BRITISH), silence(0.3))


def _captain(s: Studio) -> Audio:
    speech = s.speak("This is your captain speaking. We will land in ten minutes.", MALE)
    return concat(silence(0.3), speech, silence(0.3))


def _speech_over_tone(s: Studio) -> Audio:
    speech = s.speak("The red bus leaves at ten every morning.", MALE)
    length = len(speech) / RATE + 1.4
    return place(length, (0.2, tone(600, length - 0.4, 0.1)), (0.8, speech))


def _platform_in_noise(s: Studio) -> Audio:
    speech = s.speak("The train to the city will leave from platform four.", MALE_2)
    length = len(speech) / RATE + 1.0
    return place(length, (0.0, noise(s.rng, length, 0.02)), (0.5, speech))


def _voicemail(s: Studio) -> Audio:
    ring = tone((440, 480), 0.8, 0.15)
    speech = s.speak("Hi, this is Sam. I can not come to the phone. Please leave a message.", MALE)
    return concat(silence(0.2), ring, silence(0.4), ring, silence(0.5), speech, silence(0.3))


def _announced_beeps(s: Studio) -> Audio:
    speech = s.speak("Please count the sounds. There are four of them.", FEMALE)
    return concat(silence(0.3), speech, silence(0.5), beeps([0.0, 0.6, 1.2], 1500, 2.0))


def _song_title(s: Studio) -> Audio:
    speech = s.speak("Our next song is called Blue River.", FEMALE_2)
    tune = arpeggio(["G4", "B4", "D5", "B4", "C5", "A4", "G4"], bpm=120, beats=7)
    return concat(silence(0.3), speech, silence(0.4), tune)


def _music_then_voice(s: Studio) -> Audio:
    tune = arpeggio(["E4", "G4", "C5", "G4", "F4", "A4", "C5", "A4"], bpm=150, beats=8)
    speech = s.speak("Thank you all for listening.", MALE)
    return concat(silence(0.2), tune, silence(0.3), speech, silence(0.3))


def _description_mismatch(s: Studio) -> Audio:
    speech = s.speak("Here is a slow and sad song.", FEMALE_2)
    tune = arpeggio(["C4", "E4", "G4", "C5"], bpm=150, beats=12)
    return concat(silence(0.3), speech, silence(0.4), tune)


def _music_with_beeps(s: Studio) -> Audio:
    chords = [("C4", "E4", "G4"), ("F3", "A3", "C4"), ("G3", "B3", "D4"), ("C4", "E4", "G4")] * 2
    music = progression(chords, 0.8)
    length = len(music) / RATE
    return music + beeps([0.5, 1.7, 2.5, 4.1, 5.6], 2500, length)


def _fade_over_hiss(s: Studio) -> Audio:
    chords = [("A3", "C4", "E4"), ("F3", "A3", "C4"), ("C4", "E4", "G4"), ("G3", "B3", "D4")] * 2
    music = progression(chords, 0.9)
    music = ramp_db(music, 0, -35)
    return music + noise(s.rng, len(music) / RATE, 0.02, band="high")


def _noise_burst(s: Studio) -> Audio:
    tune = arpeggio(["D4", "F#4", "A4", "F#4"], bpm=100, beats=10)
    return tune + place(len(tune) / RATE, (1.1, noise(s.rng, 0.35, 0.25)))


def _weather(s: Studio) -> Audio:
    speech = s.speak("Good morning. Today will be cold and rainy, so take a coat.", MALE)
    length = len(speech) / RATE + 1.2
    chords = [("F3", "A3", "C4"), ("C4", "E4", "G4")] * math.ceil(length / 2.4)
    music = progression(chords, 1.2, amp=0.08)[: samples(length)]
    hiss = noise(s.rng, length, 0.01)
    return place(length, (0.0, music), (0.0, hiss), (0.6, speech))


def _birthday(s: Studio) -> Audio:
    melody = [("G4", 0.3), ("G4", 0.15), ("A4", 0.45), ("G4", 0.45), ("C5", 0.45), ("B4", 0.9)]
    parts, start = [], 0.2
    for note, seconds in melody:
        parts.append((start, pluck(hz(note), seconds + 0.4, 0.3)))
        start += seconds
    tune = place(start + 0.5, *parts)
    speech = s.speak("Happy birthday, Anna! Make a wish.", FEMALE)
    claps_at = np.sort(s.rng.uniform(0.0, 1.8, size=14))
    claps = place(2.0, *((float(t), noise(s.rng, 0.03, 0.2, band="clap")) for t in claps_at))
    return concat(tune, speech, silence(0.2), claps)


LOUDNESS = (
    "It gets steadily louder",
    "It gets steadily quieter",
    "It stays at the same level",
    "It gets louder, then quieter",
)
WHERE = ("Near the beginning", "In the middle", "Near the end")


def _specs() -> list[Spec]:
    # Thinking texts state what a careful listener hears; cues name what to notice.
    return [
        Spec(
            id="demo-tone-frequency",
            modality="sound",
            category="Signal Layer",
            sub_category="Acoustic Quality Analysis",
            question="What is the frequency of the steady tone in this recording?",
            answer=Ladder(800, ratio=2, template="{} Hz", lowest=50),
            distractors=(),
            thinking="The clip holds one pure, steady sine tone lasting about three seconds. Its "
            "pitch sits between G5 and G#5, which corresponds to a frequency of 800 Hz; the other "
            "options are whole octaves away and would sound clearly lower or higher.",
            cues=(
                ("Pure tone", "hears a single steady sine tone"),
                ("Pitch height", "estimates the tone's frequency as 800 Hz"),
            ),
            render=_tone_frequency,
        ),
        Spec(
            id="demo-beep-count",
            modality="sound",
            category="Perception Layer",
            sub_category="Counting and Statistics",
            question="How many beeps are heard in this recording?",
            answer=Ladder(7),
            distractors=(),
            thinking="The recording contains short 1 kHz beeps separated by silences of uneven "
            "length. Counting each onset gives seven beeps in total.",
            cues=(
                ("Beep onsets", "separates the short beeps from one another"),
                ("Count", "counts seven beeps"),
            ),
            render=_beep_count,
        ),
        Spec(
            id="demo-loudness-trend",
            modality="sound",
            category="Signal Layer",
            sub_category="Acoustic Quality Analysis",
            question="How does the loudness of the noise change over the course of the clip?",
            answer=LOUDNESS[0],
            distractors=LOUDNESS[1:],
            thinking="The clip is a broadband rushing noise. It starts very faint and its level "
            "rises evenly, by about 30 dB, until it is loudest at the very end: it gets steadily "
            "louder.",
            cues=(
                ("Level at start", "notices that the noise starts faint"),
                ("Level at end", "notices that the noise is loudest at the end"),
            ),
            render=_loudness_trend,
        ),
        Spec(
            id="demo-tone-dropout",
            modality="sound",
            category="Signal Layer",
            sub_category="Anomaly Detection",
            question="A steady tone plays throughout the clip. Where, if anywhere, does it cut "
            "out briefly?",
            answer=WHERE[2],
            distractors=(WHERE[0], WHERE[1], "It never cuts out"),
            thinking="A 600 Hz tone sounds for about six seconds. It is continuous for the first "
            "4.8 seconds, then drops to silence for 0.4 seconds before returning for a final 0.8 "
            "seconds, so the dropout is near the end.",
            cues=(
                ("Dropout", "detects a short silence inside the tone"),
                ("Timing", "places the silence in the last third of the clip"),
            ),
            render=_tone_dropout,
        ),
        Spec(
            id="demo-pitch-compare",
            modality="sound",
            category="Signal Layer",
            sub_category="Audio Difference Analysis",
            question="Two tones are played one after the other. How does the second compare "
            "with the first?",
            answer="The second tone is lower",
            distractors=("The second tone is higher", "Both tones have the same pitch"),
            thinking="The first tone is at 880 Hz and the second at 440 Hz: the second is exactly "
            "one octave lower than the first.",
            cues=(
                ("First tone pitch", "hears the first tone at 880 Hz"),
                ("Second tone pitch", "hears the second tone an octave lower, at 440 Hz"),
            ),
            render=_pitch_compare,
        ),
        Spec(
            id="demo-morse-word",
            modality="sound",
            category="Cultural Layer",
            sub_category="Professional Knowledge and Reasoning",
            question="The beeps in this recording are International Morse code, sent twice. "
            "Which word do they spell?",
            answer="OK",
            distractors=("SOS", "HI", "NO"),
            thinking="Each repetition consists of three long beeps (dashes), a gap, then "
            "long-short-long. Three dashes are the letter O and dash-dot-dash is K, so the word "
            "is OK. SOS would be three short, three long, three short; HI would be six short "
            "beeps; NO would begin with dash-dot.",
            cues=(
                ("Beep lengths", "distinguishes long beeps (dashes) from short ones (dots)"),
                ("Letter grouping", "groups the beeps into the letters O (---) and K (-.-)"),
            ),
            render=_morse,
        ),
        Spec(
            id="demo-doorbell",
            modality="sound",
            category="Perception Layer",
            sub_category="Environmental Perception and Reasoning",
            question="What everyday device most likely produced this sound?",
            answer="A doorbell",
            distractors=("A smoke alarm", "A car horn", "A microwave oven timer"),
            thinking="The sound is a two-note chime, a higher bell tone (E5) followed by a lower "
            "one (C5), each ringing and decaying, heard twice: the classic 'ding-dong' of a "
            "doorbell. A smoke alarm gives harsh repeated beeps, a car horn a loud sustained "
            "blare, and a microwave timer short electronic beeps.",
            cues=(
                ("Two-note chime", "hears a high then a low ringing bell tone"),
                ("Decay", "notices the tones ring and fade like struck bells"),
            ),
            render=_doorbell,
        ),
        Spec(
            id="demo-chord-quality",
            modality="music",
            category="Perception Layer",
            sub_category="Music Theory",
            question="Is the chord strummed repeatedly in this clip major or minor?",
            answer="Minor",
            distractors=("Major",),
            thinking="The same plucked chord is strummed four times. Its notes are C4, Eb4 and "
            "G4: a root, a minor third (three semitones) and a perfect fifth, which is a C minor "
            "triad with its darker sound.",
            cues=(
                ("Chord notes", "hears the three notes C, E flat and G"),
                ("Third", "identifies the third above the root as minor"),
            ),
            render=_chord_quality,
        ),
        Spec(
            id="demo-music-mood",
            modality="music",
            category="Semantic Layer",
            sub_category="Emotion and Intention",
            question="What mood does this music most likely convey?",
            answer="Sad and sombre",
            distractors=("Happy and cheerful", "Angry and aggressive", "Excited and energetic"),
            thinking="A single plucked instrument plays the notes of an A minor triad (A, C, E) "
            "one at a time, slowly, at 60 beats per minute, softly and in a low-middle register. "
            "A slow tempo, a minor key and a gentle attack convey a sad, sombre mood.",
            cues=(
                ("Minor harmony", "hears that the notes outline a minor chord"),
                ("Slow tempo", "notices the slow pace of about 60 BPM"),
            ),
            render=_minor_mood,
        ),
        Spec(
            id="demo-click-tempo",
            modality="music",
            category="Perception Layer",
            sub_category="Temporal Analysis",
            question="What is the tempo of this metronome click track?",
            answer=Ladder(100, step=20, template="{} BPM", lowest=40),
            distractors=(),
            thinking="The clicks are evenly spaced 0.6 seconds apart, with a higher click every "
            "fourth beat. 60 / 0.6 = 100 beats per minute.",
            cues=(
                ("Beat interval", "hears an even beat of 0.6 seconds between clicks"),
                ("Tempo", "converts the interval into 100 BPM"),
            ),
            render=_click_tempo,
        ),
        Spec(
            id="demo-scale-direction",
            modality="music",
            category="Perception Layer",
            sub_category="Music Theory",
            question="Which best describes the melody played in this clip?",
            answer="It falls step by step through a scale",
            distractors=(
                "It rises step by step through a scale",
                "It repeats a single note",
                "It jumps back and forth between two notes",
            ),
            thinking="Eight plucked notes are played at an even pace: C5, B4, A4, G4, F4, E4, D4, "
            "C4. Each is one scale step below the previous one, so the melody descends through a "
            "C major scale.",
            cues=(
                ("Note sequence", "hears eight notes in a row"),
                ("Direction", "hears each note one step lower than the one before"),
            ),
            render=_falling_scale,
        ),
        Spec(
            id="demo-tempo-marking",
            modality="music",
            category="Cultural Layer",
            sub_category="Professional Knowledge and Reasoning",
            question="Which Italian tempo marking best fits the speed of this music?",
            answer="Allegro",
            distractors=("Largo", "Andante", "Prestissimo"),
            thinking="The plucked pattern (C3, G3, E4, G3) moves at one note per beat, 0.45 "
            "seconds apart: about 132 beats per minute. Conventional ranges are Largo around "
            "40-60 BPM, Andante about 76-108, Allegro about 120-156 and Prestissimo above 200, so "
            "the tempo is Allegro.",
            cues=(
                ("Beat rate", "measures a pulse of about 132 BPM"),
                ("Tempo terms", "maps 132 BPM onto the Allegro range"),
            ),
            render=_tempo_marking,
        ),
        Spec(
            id="demo-dissonance",
            modality="music",
            category="Cultural Layer",
            sub_category="Aesthetic Evaluation",
            question="Two chords are played one after the other. Which one sounds more dissonant?",
            answer="The first chord",
            distractors=("The second chord",),
            thinking="The first chord stacks C4, C#4 and D4, three notes a semitone apart, whose "
            "clashing frequencies beat roughly against each other. The second is a C major triad "
            "(C4, E4, G4), a stable consonant chord. The first is the dissonant one.",
            cues=(
                ("First chord", "hears the clashing, rough cluster of adjacent notes"),
                ("Second chord", "hears a smooth major triad"),
            ),
            render=_dissonance,
        ),
        Spec(
            id="demo-meeting-place",
            modality="speech",
            category="Semantic Layer",
            sub_category="Content Analysis",
            question="Where does the speaker ask to meet?",
            answer="At the train station",
            distractors=("At the bus stop", "At the airport", "At the library"),
            thinking="A man says: 'Please meet me at the train station at five o'clock.' The "
            "meeting place is the train station.",
            cues=(
                ("Transcript", "understands the spoken request"),
                ("Place", "picks out 'the train station' as the meeting place"),
            ),
            render=_meeting_place,
            speech=True,
        ),
        Spec(
            id="demo-fruit-total",
            modality="speech",
            category="Semantic Layer",
            sub_category="Content Analysis",
            question="How many pieces of fruit did the speaker buy in total?",
            answer=Ladder(5),
            distractors=(),
            thinking="A woman says: 'I bought three apples and two oranges at the market.' Three "
            "apples plus two oranges is five pieces of fruit.",
            cues=(
                ("Quantities", "hears 'three apples' and 'two oranges'"),
                ("Sum", "adds them to five"),
            ),
            render=_fruit_total,
            speech=True,
        ),
        Spec(
            id="demo-counting-pause",
            modality="speech",
            category="Perception Layer",
            sub_category="Temporal Analysis",
            question="The speaker counts aloud and makes one long pause. After which number "
            "does the pause come?",
            answer="After three",
            distractors=("After one", "After two", "After four"),
            thinking="The speaker says 'One, two, three', stays silent for about 1.6 seconds, "
            "then says 'Four, five.' The long pause comes after three.",
            cues=(
                ("Words", "hears the numbers one to five"),
                ("Pause", "locates the long silence between 'three' and 'four'"),
            ),
            render=_counting_pause,
            speech=True,
        ),
        Spec(
            id="demo-warning",
            modality="speech",
            category="Semantic Layer",
            sub_category="Emotion and Intention",
            question="What is the speaker's main intention?",
            answer="To warn the listener about a hazard",
            distractors=(
                "To invite the listener to a party",
                "To apologise for arriving late",
                "To ask the listener for directions",
            ),
            thinking="The speaker says: 'Watch out! The floor is wet. Please do not run.' "
            "'Watch out' and the wet floor signal a hazard; the intention is to warn.",
            cues=(
                ("Alert phrase", "hears 'Watch out!'"),
                ("Hazard", "hears that the floor is wet and the request not to run"),
            ),
            render=_warning,
            speech=True,
        ),
        Spec(
            id="demo-speaker-count",
            modality="speech",
            category="Semantic Layer",
            sub_category="Speaker Analysis",
            question="How many different people speak in this conversation?",
            answer=Ladder(2),
            distractors=(),
            thinking="There are three turns: a man asks 'Can you help me carry this box?', a "
            "woman answers 'Sure, I will be there in one minute', and the same man replies "
            "'Thanks, I will wait for you by the door.' Three turns, but only two different "
            "voices.",
            cues=(
                ("Voices", "tells the male voice from the female voice"),
                ("Same speaker", "recognises that the first and third turns are the same man"),
            ),
            render=_speaker_count,
            speech=True,
        ),
        Spec(
            id="demo-british-english",
            modality="speech",
            category="Cultural Layer",
            sub_category="Culture of Speaker",
            question="Which variety of English do the speaker's word choices point to?",
            answer="British English",
            distractors=("American English", "Australian English", "Canadian English"),
            thinking="The speaker says: 'I left my umbrella in the flat, so I took the lift down "
            "and bought some crisps.' 'Flat' (apartment), 'lift' (elevator) and 'crisps' (potato "
            "chips) are British vocabulary, and the accent is a British one.",
            cues=(
                ("Vocabulary", "notices the words 'flat', 'lift' and 'crisps'"),
                ("Dialect knowledge", "knows these are British rather than American terms"),
            ),
            render=_british,
            speech=True,
        ),
        Spec(
            id="demo-captain",
            modality="speech",
            category="Cultural Layer",
            sub_category="Professional Knowledge and Reasoning",
            question="Where are the people hearing this announcement most likely to be?",
            answer="On an aeroplane",
            distractors=("On a cruise ship", "In a railway station", "In a sports stadium"),
            thinking="The announcement says: 'This is your captain speaking. We will land in ten "
            "minutes.' Both ships and aircraft have captains, but only an aircraft lands, so the "
            "listeners are passengers on an aeroplane.",
            cues=(
                ("Captain", "hears 'This is your captain speaking'"),
                ("Landing", "hears 'We will land in ten minutes' and infers a flight"),
            ),
            render=_captain,
            speech=True,
        ),
        Spec(
            id="demo-speech-over-tone",
            modality="mix-sound-speech",
            category="Signal Layer",
            sub_category="Acoustic Quality Analysis",
            question="A steady tone plays behind the voice in this clip. What is its frequency?",
            answer=Ladder(600, ratio=2, template="{} Hz", lowest=50),
            distractors=(),
            thinking="A continuous pure tone starts before the man speaks and continues after "
            "him. It lies near D5 in pitch, a frequency of 600 Hz. The speech ('The red bus leaves "
            "at ten every morning') does not change it.",
            cues=(
                ("Background tone", "separates the steady tone from the voice"),
                ("Pitch height", "estimates the tone at 600 Hz"),
            ),
            render=_speech_over_tone,
            speech=True,
        ),
        Spec(
            id="demo-platform-in-noise",
            modality="mix-sound-speech",
            category="Semantic Layer",
            sub_category="Content Analysis",
            question="Which platform does the speaker mention?",
            answer=Ladder(4, template="Platform {}"),
            distractors=(),
            thinking="Through a steady hiss of background noise a man says: 'The train to the "
            "city will leave from platform four.'",
            cues=(
                ("Speech in noise", "follows the voice despite the hiss"),
                ("Number", "hears 'platform four'"),
            ),
            render=_platform_in_noise,
            speech=True,
        ),
        Spec(
            id="demo-voicemail",
            modality="mix-sound-speech",
            category="Perception Layer",
            sub_category="Environmental Perception and Reasoning",
            question="What situation does this recording most likely capture?",
            answer="A call going to voicemail",
            distractors=(
                "A radio advert for phones",
                "A station announcement",
                "A teacher starting a lesson",
            ),
            thinking="Two bursts of a dual-frequency ringing tone (a telephone ring-back signal) "
            "are followed by a man saying: 'Hi, this is Sam. I can not come to the phone. "
            "Please leave a message.' Ringing then a recorded greeting is a call that goes "
            "to voicemail (an answering machine).",
            cues=(
                ("Ringing", "hears the two telephone ring tones"),
                ("Greeting", "hears the request to leave a message"),
            ),
            render=_voicemail,
            speech=True,
        ),
        Spec(
            id="demo-announced-beeps",
            modality="mix-sound-speech",
            category="Perception Layer",
            sub_category="Correlation Analysis",
            question="Do the sounds that follow the voice match what the speaker announces?",
            answer="No, there is one fewer than announced",
            distractors=(
                "Yes, the number matches exactly",
                "No, there is one more than announced",
                "No, there are twice as many as announced",
            ),
            thinking="A woman says: 'Please count the sounds. There are four of them.' Then only "
            "three beeps follow. Three is one fewer than the four announced.",
            cues=(
                ("Announcement", "hears that four sounds are announced"),
                ("Beep count", "counts three beeps after the voice"),
            ),
            render=_announced_beeps,
            speech=True,
        ),
        Spec(
            id="demo-song-title",
            modality="mix-music-speech",
            category="Semantic Layer",
            sub_category="Content Analysis",
            question="What is the title of the song that is introduced?",
            answer="Blue River",
            distractors=("Green Valley", "Silver Lake", "Blue Mountain", "Red River"),
            thinking="A woman announces: 'Our next song is called Blue River.' A short plucked "
            "melody follows. The title is Blue River.",
            cues=(
                ("Announcement", "hears the spoken introduction"),
                ("Title", "picks out 'Blue River'"),
            ),
            render=_song_title,
            speech=True,
        ),
        Spec(
            id="demo-music-then-voice",
            modality="mix-music-speech",
            category="Perception Layer",
            sub_category="Temporal Analysis",
            question="In what order are the parts of this recording heard?",
            answer="Music first, then a voice",
            distractors=(
                "A voice first, then music",
                "A voice and music together from start to end",
            ),
            thinking="The clip opens with about three seconds of a plucked melody alone. After it "
            "ends, a man says: 'Thank you all for listening.' Music comes first, then the voice.",
            cues=(
                ("Opening", "hears that the clip starts with instrumental music"),
                ("Closing", "hears that the voice only comes after the music stops"),
            ),
            render=_music_then_voice,
            speech=True,
        ),
        Spec(
            id="demo-description-mismatch",
            modality="mix-music-speech",
            category="Perception Layer",
            sub_category="Correlation Analysis",
            question="Does the music that follows fit the speaker's description of it?",
            answer="No: it is fast and bright",
            distractors=(
                "Yes: it is slow and sad",
                "No: it is slow but bright",
                "No: it is fast but sad",
            ),
            thinking="A woman says: 'Here is a slow and sad song.' What follows is a C major "
            "arpeggio (C, E, G, C) plucked briskly at 150 beats per minute. A fast tempo in a "
            "major key sounds bright, the opposite of the description.",
            cues=(
                ("Description", "hears the music described as slow and sad"),
                ("Tempo and key", "hears a fast tempo (about 150 BPM) in a major key"),
            ),
            render=_description_mismatch,
            speech=True,
        ),
        Spec(
            id="demo-music-with-beeps",
            modality="mix-sound-music",
            category="Perception Layer",
            sub_category="Counting and Statistics",
            question="Besides the music, how many electronic beeps can be heard?",
            answer=Ladder(5),
            distractors=(),
            thinking="Under a strummed C-F-G-C chord progression, high 2.5 kHz beeps sound at "
            "irregular moments. Counting them gives five.",
            cues=(
                ("Beeps vs music", "separates the high beeps from the plucked chords"),
                ("Count", "counts five beeps"),
            ),
            render=_music_with_beeps,
        ),
        Spec(
            id="demo-fade-over-hiss",
            modality="mix-sound-music",
            category="Signal Layer",
            sub_category="Acoustic Quality Analysis",
            question="How do the music and the background hiss change over the clip?",
            answer="The music fades out while the hiss stays steady",
            distractors=(
                "The hiss fades out while the music stays steady",
                "Both fade out together",
                "Both stay at a steady level",
            ),
            thinking="A strummed chord progression starts at full level and fades by about 35 dB "
            "to near silence, while a faint high-pitched hiss continues at the same level from "
            "start to end.",
            cues=(
                ("Music level", "hears the chords getting quieter until almost inaudible"),
                ("Hiss level", "hears the hiss staying constant"),
            ),
            render=_fade_over_hiss,
        ),
        Spec(
            id="demo-noise-burst",
            modality="mix-sound-music",
            category="Signal Layer",
            sub_category="Anomaly Detection",
            question="Where, if anywhere, is the music disrupted by a burst of noise?",
            answer=WHERE[0],
            distractors=(WHERE[1], WHERE[2], "It is never disrupted"),
            thinking="A plucked D major pattern plays for about six seconds. About 1.1 seconds in, "
            "a loud burst of white noise lasting a third of a second cuts across it; the rest is "
            "clean. The disruption is near the beginning.",
            cues=(
                ("Noise burst", "detects the short broadband burst"),
                ("Timing", "places it in the first third of the clip"),
            ),
            render=_noise_burst,
        ),
        Spec(
            id="demo-weather-report",
            modality="mix-sound-music-speech",
            category="Semantic Layer",
            sub_category="Content Analysis",
            question="What weather does the speaker expect today?",
            answer="Cold and rainy",
            distractors=(
                "Sunny and warm",
                "Hot and dry",
                "Windy and cloudy",
                "Snowy and freezing",
                "Foggy and mild",
            ),
            thinking="Over soft strummed chords and a faint hiss, like a radio broadcast, a man "
            "says: 'Good morning. Today will be cold and rainy, so take a coat.'",
            cues=(
                ("Speech over music", "follows the voice over the background music and hiss"),
                ("Forecast", "hears 'cold and rainy'"),
            ),
            render=_weather,
            speech=True,
        ),
        Spec(
            id="demo-birthday",
            modality="mix-sound-music-speech",
            category="Cultural Layer",
            sub_category="Imagination",
            question="What kind of event is most likely taking place?",
            answer="A birthday party",
            distractors=("A wedding reception", "A job interview", "A football match"),
            thinking="The clip opens with the first phrase of the 'Happy Birthday' tune, then a "
            "woman says 'Happy birthday, Anna! Make a wish.', followed by clapping. The tune, the "
            "greeting and the wish over the candles point to a birthday party.",
            cues=(
                ("Tune", "recognises the opening of 'Happy Birthday'"),
                ("Greeting", "hears 'Happy birthday, Anna! Make a wish.'"),
                ("Clapping", "hears applause"),
            ),
            render=_birthday,
            speech=True,
        ),
    ]


SPECS: list[Spec] = _specs()


# ---------------------------------------------------------------------------------------------
# Metadata
# ---------------------------------------------------------------------------------------------


def rubric(spec: Spec) -> list[dict[str, Any]]:
    """MMAR-style scoring points: one per cue, then one for the final choice."""
    points = [
        {
            "name": f"Cue Identification: {name}",
            "scoring_point": f"Award 1 point if the test-taker {what}.",
            "note": "This checks that the answer rests on what is actually audible in the clip.",
            "choices": [0, 1],
        }
        for name, what in spec.cues
    ]
    points.append(
        {
            "name": "Correct Selection",
            "scoring_point": f"Award 1 point if the test-taker selects '{spec.answer_text}'.",
            "note": "This assesses whether the cues are combined into the correct final answer.",
            "choices": [0, 1],
        }
    )
    return points


def place_answers(specs: Sequence[Spec], rng: np.random.Generator) -> list[list[str]]:
    """Choices per item, with the answer's position balanced across items of the same size.

    Each item takes, among the positions its choices allow, the one used least so far by items
    with as many choices (ties broken at random), so that no letter is the safe guess.
    """
    used: dict[int, Counter[int]] = {}
    out = []
    for spec in specs:
        k = spec.choice_count
        counts = used.setdefault(k, Counter())
        allowed = [p for p in range(k) if spec.choices(p, np.random.default_rng(0)) is not None]
        fewest = min(counts[p] for p in allowed)
        candidates = [p for p in allowed if counts[p] == fewest]
        position = candidates[int(rng.integers(len(candidates)))]
        counts[position] += 1
        choices = spec.choices(position, rng)
        assert choices is not None and choices[position] == spec.answer_text, spec.id
        out.append(choices)
    return out


def build_meta() -> list[dict[str, Any]]:
    """The demo's metadata records, in MMAR's field order; independent of the audio tools."""
    rng = np.random.default_rng(SEED)
    records = []
    for spec, choices in zip(SPECS, place_answers(SPECS, rng), strict=True):
        records.append(
            {
                "id": spec.id,
                "audio_path": f"./audio/{spec.id}.flac",
                "question": spec.question,
                "choices": choices,
                "answer": spec.answer_text,
                "modality": spec.modality,
                "category": spec.category,
                "sub-category": spec.sub_category,
                "language": "en" if spec.speech else None,
                "source": "synthetic",
                "url": None,
                "timestamp": None,
                "thinking": spec.thinking,
                "cue": [name for name, _ in spec.cues],
                "rubric": rubric(spec),
            }
        )
    return records


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def render_all(out: Path) -> None:
    """Render every clip to `out/audio/<id>.flac` and write `out/meta.jsonl`."""
    if shutil.which("espeak-ng") is None:
        sys.exit(
            "make_demo: espeak-ng is not installed; it speaks the demo's speech items.\n"
            "Install it with: apt-get install espeak-ng"
        )
    audio_dir = out / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    for stale in audio_dir.glob("*.flac"):
        stale.unlink()
    records = build_meta()
    with tempfile.TemporaryDirectory() as workdir:
        for index, spec in enumerate(SPECS):
            # One generator per item: changing one item's audio leaves the others' noise alone.
            studio = Studio(np.random.default_rng([SEED, index]), Path(workdir))
            audio = spec.render(studio)
            duration = len(audio) / RATE
            if not 2.0 <= duration <= 10.0:
                raise SystemExit(f"make_demo: item {spec.id} lasts {duration:.2f} s, not 2-10 s")
            audio = audio * (PEAK / np.abs(audio).max())
            sf.write(str(audio_dir / f"{spec.id}.flac"), audio, RATE, subtype="PCM_16")
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    (out / "meta.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in audio_dir.glob("*.flac"))
    print(f"wrote {len(records)} items to {out} ({total / 1e6:.2f} MB of audio)")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder")
    render_all(parser.parse_args(argv).out)


if __name__ == "__main__":
    main()
