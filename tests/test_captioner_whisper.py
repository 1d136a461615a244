"""The whisper captioner: bundled models, whole-clip transcription, per-item errors, whisperx."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np
import pytest
from cascade.captioners.whisper import BUNDLED_TINY_EN, Whisper, resolve_model

from cascade.core import ComponentError, MissingExtraError, forget, load_once, resolve, unpacked
from tests.frontend_audio import (
    SENTENCE,
    SENTENCE_2,
    clicks,
    corrupt,
    item,
    mix,
    silence,
    speech,
    tone,
    word_list,
    write,
)


def test_registered_as_asr() -> None:
    assert resolve("captioner", "whisper") is Whisper
    assert Whisper.kind == "asr"


@pytest.mark.parametrize(
    "config",
    [
        {"align": True},
        {"diarize": True},
        {"backend": "whisperx", "vad_filter": True},
        {"backend": "whisperx", "word_timestamps": True},
        {"backend": "whisperx", "align_model": "WAV2VEC2_ASR_BASE_960H"},  # without align
        {"device": "cuda"},  # runtime, not config
    ],
)
def test_config_rejects_options_the_backend_ignores(config: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Whisper(config)


def test_model_names_resolve(tmp_path: Path) -> None:
    assert resolve_model(str(tmp_path)) == str(tmp_path)
    assert resolve_model("large-v3") == "large-v3"
    with pytest.raises(ComponentError, match="no bundled model 'bundled:huge'"):
        resolve_model("bundled:huge")


def test_unpacked_builds_once_and_never_leaves_half_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASCADE_CACHE", str(tmp_path))
    calls = []

    def build(folder: Path) -> None:
        calls.append(folder)
        (folder / "model.bin").write_bytes(b"weights")

    first = unpacked("model-1.0", build)
    again = unpacked("model-1.0", build)
    assert first == again == tmp_path / "models" / "model-1.0"
    assert len(calls) == 1 and (first / "model.bin").read_bytes() == b"weights"

    def broken(folder: Path) -> None:
        (folder / "model.bin").write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        unpacked("model-2.0", broken)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["model-1.0"]


def test_models_load_once_per_key_and_keys_load_side_by_side() -> None:
    a_started, b_started = threading.Event(), threading.Event()
    calls: list[str] = []

    def load_a() -> str:
        calls.append("a")
        a_started.set()
        # Finishes only once b's load has begun: a lock shared by all keys would stall here.
        assert b_started.wait(timeout=10)
        return "model a"

    def load_b() -> str:
        calls.append("b")
        b_started.set()
        return "model b"

    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(load_once(("test", "a"), load_a)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    assert a_started.wait(timeout=10)
    assert load_once(("test", "b"), load_b) == "model b"
    for thread in threads:
        thread.join(timeout=10)
    assert results == ["model a"] * 3 and sorted(calls) == ["a", "b"]
    forget(("test", "a"))
    forget(("test", "b"))


@pytest.mark.skipif(importlib.util.find_spec("whisperx") is not None, reason="whisperx installed")
def test_whisperx_backend_names_its_extra(tmp_path: Path) -> None:
    clip = write(tmp_path / "a.wav", tone(440.0, 0.5))
    with pytest.raises(MissingExtraError, match=r"pip install -e '\.\[whisperx\]'"):
        Whisper({"backend": "whisperx"}).describe([item(clip)])


@pytest.mark.slow
def test_speech_over_a_tone_a_corrupt_file_and_a_long_clip(tmp_path: Path) -> None:
    pytest.importorskip("faster_whisper")
    spoken = np.concatenate([silence(0.5), speech(SENTENCE)])
    long_clip = np.concatenate(
        [silence(1.0), speech(SENTENCE), silence(28.0), speech(SENTENCE_2), silence(1.0)]
    )
    clips = [
        write(tmp_path / "speech-over-tone.wav", mix(spoken, tone(1000.0, 4.0, 0.03))),
        corrupt(tmp_path / "corrupt.wav"),
        write(tmp_path / "long.wav", long_clip),
        write(tmp_path / "clicks.wav", clicks(96.0, 6.0)),
    ]
    outputs = Whisper({"model": BUNDLED_TINY_EN}).describe([item(p) for p in clips])

    assert [o.item_id for o in outputs] == [p.stem for p in clips]
    over_tone, broken, long_out, click_track = outputs

    assert word_list(over_tone.text) == word_list(SENTENCE)
    assert over_tone.data["language"] == "en"
    (segment,) = over_tone.data["segments"]
    assert 0.0 <= segment["start"] < segment["end"] <= 4.5
    assert 0.0 < segment["probability"] <= 1.0

    assert not broken.ok and "cannot decode" in (broken.error or "")

    # Nothing past Whisper's 30 s window is lost: the second sentence starts at 33 s.
    assert word_list(long_out.text) == word_list(SENTENCE) + word_list(SENTENCE_2)
    assert long_out.data["duration_s"] == pytest.approx(len(long_clip) / 16000, abs=0.01)
    assert long_out.data["segments"][-1]["start"] >= 29.0

    # What Whisper writes over clicks (".", "You") is not passed off as speech.
    assert click_track.ok and click_track.text == ""
    assert click_track.data["segments"] == [] and click_track.data["language"] is None


@pytest.mark.slow
def test_multilingual_base_is_assembled_once_and_detects_the_language(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("faster_whisper")
    monkeypatch.setenv("CASCADE_CACHE", str(tmp_path / "cache"))
    spanish = write(
        tmp_path / "es.wav", speech("Buenos días. Hoy hace muy buen tiempo.", voice="es")
    )
    english = write(tmp_path / "en.wav", speech(SENTENCE))

    es, en = Whisper({"model": "bundled:base"}).describe([item(spanish), item(english)])

    models = tmp_path / "cache" / "models"
    (folder,) = models.glob("whisper-base-*")
    assert len(list((models / "verified").iterdir())) == 5  # every file of both parts checked
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json", "model.bin", "tokenizer.json", "vocabulary.txt"
    ]  # fmt: skip
    assert (folder / "model.bin").stat().st_size == 145_217_532
    assert es.data["language"] == "es" and es.data["language_probability"] > 0.5
    assert {"buenos", "tiempo"} <= set(word_list(es.text))
    assert en.data["language"] == "en"
    assert word_list(en.text) == word_list(SENTENCE)


@pytest.mark.slow
def test_whisperx_backend_transcribes_with_its_bundled_vad(tmp_path: Path) -> None:
    """Runs where whisperx is installed (its own environment: it pins torch 2.8). Alignment and
    diarization download models at run time, so this covers batched VAD transcription."""
    pytest.importorskip("whisperx")
    clips = [
        write(tmp_path / "first.wav", np.concatenate([silence(0.5), speech(SENTENCE)])),
        corrupt(tmp_path / "corrupt.wav"),
        write(tmp_path / "second.wav", speech(SENTENCE_2)),
    ]
    whisper = Whisper({"backend": "whisperx"}, {"batch_size": 4, "compute_type": "int8"})
    first, broken, second = whisper.describe([item(p) for p in clips])

    assert word_list(first.text) == word_list(SENTENCE)
    assert first.data["language"] == "en"
    # Without alignment, times are those of the VAD chunks: coarse, but inside the clip.
    assert 0.0 <= first.data["segments"][0]["start"] < first.data["segments"][-1]["end"] <= 4.0
    assert not broken.ok and "cannot decode" in (broken.error or "")
    assert word_list(second.text) == word_list(SENTENCE_2)


@pytest.mark.slow
def test_whisperx_diarization_without_a_token_fails_the_whole_component(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("whisperx")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    clip = write(tmp_path / "a.wav", speech(SENTENCE))
    whisper = Whisper({"backend": "whisperx", "diarize": True}, {"compute_type": "int8"})
    with pytest.raises(
        ComponentError, match=r"diarization needs a Hugging Face token .* \$HF_TOKEN"
    ):
        whisper.describe([item(clip)])
