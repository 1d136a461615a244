"""Benchmark loading: shipped metadata, filters, and validation messages that name the item."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cascade.core import BenchmarkError, BenchmarkSpec, benchmark_by_name
from tests.conftest import write_benchmark

load_demo = benchmark_by_name("demo").load
load_mmar = benchmark_by_name("mmar").load
load_mmau = benchmark_by_name("mmau-test-mini").load


def test_shipped_mmar_meta_loads_all_1000_items() -> None:
    benchmark = load_mmar(BenchmarkSpec(name="mmar"), need_audio=False)
    assert len(benchmark.items) == 1000
    assert {i.modality for i in benchmark.items} == {
        "sound",
        "music",
        "speech",
        "mix-sound-music",
        "mix-sound-speech",
        "mix-music-speech",
        "mix-sound-music-speech",
    }
    item = next(i for i in benchmark.items if i.id == "6kIjOvBVAHQ_00-00-00_00-00-06")
    assert item.answer == "Too little" and item.answer_index == 0
    assert item.meta["rubric"]  # annotation fields are kept for the predictions file


def test_shipped_mmau_test_mini_loads_with_its_own_prediction_key() -> None:
    benchmark = load_mmau(BenchmarkSpec(name="mmau-test-mini"), need_audio=False)
    assert len(benchmark.items) == 1000
    assert benchmark.prediction_key == "model_output"
    assert {i.modality for i in benchmark.items} == {"sound", "music", "speech"}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"modalities": ["mix-sound-music"]}, 11),
        ({"categories": ["Signal Layer"]}, 43),
        ({"modalities": ["speech"], "limit": 7}, 7),
        ({"ids": ["6kIjOvBVAHQ_00-00-00_00-00-06"]}, 1),
    ],
)
def test_filters(spec: dict[str, Any], expected: int) -> None:
    benchmark = load_mmar(BenchmarkSpec(name="mmar", **spec), need_audio=False)
    assert len(benchmark.items) == expected


def test_unknown_filter_value_is_an_error() -> None:
    with pytest.raises(BenchmarkError, match=r"unknown modality \['speeech'\]"):
        load_mmar(BenchmarkSpec(name="mmar", modalities=["speeech"]), need_audio=False)
    with pytest.raises(BenchmarkError, match="unknown item id"):
        load_mmar(BenchmarkSpec(name="mmar", ids=["nope"]), need_audio=False)


def broken_meta(tmp_path: Path, change: dict[str, Any], index: int = 1) -> Path:
    meta = write_benchmark(tmp_path)
    records = [json.loads(line) for line in meta.read_text().splitlines()]
    records[index].update(change)
    meta.write_text("".join(json.dumps(r) + "\n" for r in records))
    return meta


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "tone-440"}, "item tone-440: duplicate id (2 items)"),
        ({"answer": "999 Hz"}, "item tone-880: answer '999 Hz' is not one of the choices"),
        ({"choices": ["880 Hz"], "answer": "880 Hz"}, "item tone-880: has 1 choices"),
        ({"choices": ["880 Hz", "880 Hz"], "answer": "880 Hz"}, "at least 2 different ones"),
        (
            {"audio_path": "../../etc/passwd"},
            "item tone-880: audio_path '../../etc/passwd' escapes",
        ),
        ({"audio_path": "/etc/passwd"}, "item tone-880: audio_path '/etc/passwd' escapes"),
        ({"question": None}, "item tone-880: field 'question' is missing"),
        ({"choices": "A or B"}, "item tone-880: field 'choices' is missing or not a list"),
    ],
)
def test_malformed_meta_is_refused_naming_the_item(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    meta = broken_meta(tmp_path, change)
    with pytest.raises(BenchmarkError) as raised:
        load_demo(BenchmarkSpec(meta=meta, audio_root=tmp_path))
    assert message in str(raised.value)


def test_meta_that_is_not_json_names_the_line(tmp_path: Path) -> None:
    meta = write_benchmark(tmp_path)
    meta.write_text(meta.read_text() + "{not json\n")
    with pytest.raises(BenchmarkError, match="line 7: not valid JSON"):
        load_demo(BenchmarkSpec(meta=meta, audio_root=tmp_path))


def test_missing_audio_is_reported_up_front_listing_the_files(tmp_path: Path) -> None:
    meta = write_benchmark(tmp_path)
    (tmp_path / "audio" / "tone-880.wav").unlink()
    (tmp_path / "audio" / "mix-6.wav").unlink()
    with pytest.raises(BenchmarkError) as raised:
        load_demo(BenchmarkSpec(meta=meta, audio_root=tmp_path))
    message = str(raised.value)
    assert "audio missing for 2 of 6 item(s)" in message
    assert "tone-880: " in message and "tone-880.wav" in message and "mix-6: " in message
    assert "--skip-missing-audio" in message


def test_missing_audio_is_skipped_only_when_asked(tmp_path: Path) -> None:
    meta = write_benchmark(tmp_path)
    (tmp_path / "audio" / "tone-880.wav").unlink()
    benchmark = load_demo(BenchmarkSpec(meta=meta, audio_root=tmp_path, skip_missing_audio=True))
    assert [i.id for i in benchmark.items] == [
        "tone-440",
        "speech-yes",
        "music-mood",
        "mix-6",
        "speech-count",
    ]
    assert list(benchmark.skipped) == ["tone-880"]
    assert "audio missing at" in benchmark.skipped["tone-880"]


def test_symlink_escaping_the_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.wav"
    outside.write_bytes(b"x")
    meta = write_benchmark(tmp_path / "bench")
    target = tmp_path / "bench" / "audio" / "tone-880.wav"
    target.unlink()
    target.symlink_to(outside)
    escapes = r"tone-880: audio_path '\./audio/tone-880\.wav' escapes"
    with pytest.raises(BenchmarkError, match=escapes):
        load_demo(BenchmarkSpec(meta=meta, audio_root=tmp_path / "bench"))
