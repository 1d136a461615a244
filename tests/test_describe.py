"""`cascade describe`: what the cascade hears in any files, per stage and composed, cached."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cascade.cli import app
from cascade.testing import sine
from tests import frontend_audio as audio

runner = CliRunner()


def describe(*args: str) -> tuple[int, list[dict[str, object]] | str]:
    result = runner.invoke(app, ["describe", *args, "--json"])
    try:
        return result.exit_code, json.loads(result.stdout)
    except json.JSONDecodeError:
        return result.exit_code, result.output


def test_scripted_stage_describes_files_and_names_a_corrupt_one(tmp_path: Path) -> None:
    good = sine(tmp_path / "good.wav", seconds=1.5)
    bad = audio.corrupt(tmp_path / "bad.wav")
    cache = ["--set", f"cache_dir={tmp_path / 'cache'}"]
    code, report = describe(str(good), str(bad), "--captioner", "scripted", *cache)
    assert code == 3 and isinstance(report, list)
    assert report[0]["description"].startswith(
        "Audio caption (from scripted):\n<caption>\na clip of 1.5"
    )
    assert report[1]["description"] is None
    assert "bad.wav" in report[1]["stages"][0]["error"]

    code, again = describe(str(good), "--captioner", "scripted", *cache)
    assert code == 0 and isinstance(again, list)
    assert again[0]["stages"][0]["cached"] is True


@pytest.mark.slow
def test_default_front_end_hears_words_speech_and_the_tone(tmp_path: Path) -> None:
    sentence = "Please open the door and turn on the light."
    clip = audio.write(
        tmp_path / "speech-over-tone.wav",
        audio.mix(audio.speech(sentence), audio.tone(1000.0, 4.0, amplitude=0.05)),
    )
    code, report = describe(str(clip), "--set", f"cache_dir={tmp_path / 'cache'}")
    assert code == 0 and isinstance(report, list)
    stages = {s["stage"]: s for s in report[0]["stages"]}
    assert audio.word_list(sentence) == audio.word_list(stages["whisper"]["text"])
    assert "Speech" in stages["audioset"]["text"]
    hz = [float(x) for x in re.findall(r"(\d+(?:\.\d+)?) Hz", stages["signal"]["text"])]
    assert any(abs(f - 1000.0) <= 20.0 for f in hz), stages["signal"]["text"]
    description = report[0]["description"]
    assert "<transcript>" in description and "Sound and music tags (from audioset)" in description
