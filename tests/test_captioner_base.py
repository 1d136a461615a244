"""The Captioner base class owns per-clip error isolation: a captioner says how to describe one
clip, and a clip that cannot be read or described fails alone, with its error, while the rest
of the batch is described; a model that cannot load fails the whole batch instead."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import soundfile as sf

from cascade.core import Captioner, CascadeError, Clip, StageInput, StageKind, StageOutput


class Lengths(Captioner):
    """Says how long each clip is; refuses clips shorter than half a second."""

    name: ClassVar[str] = "lengths"
    kind: ClassVar[StageKind] = "caption"
    broken = False

    def load(self) -> None:
        if self.broken:
            raise CascadeError("the model cannot load")

    def describe_clip(self, item: StageInput) -> StageOutput:
        seconds = item.clip.duration_s
        if seconds < 0.5:
            raise ValueError(f"{seconds:.1f} s is too short")
        return self.output(item, f"{seconds:.1f} s")


@pytest.fixture
def batch(tmp_path: Path) -> list[StageInput]:
    def clip(name: str, seconds: float) -> Clip:
        path = tmp_path / f"{name}.wav"
        sf.write(path, np.zeros(int(16000 * seconds), dtype=np.float32), 16000)
        return Clip(path)

    missing = Clip(tmp_path / "missing.wav")
    return [
        StageInput("long", clip("long", 1.0)),
        StageInput("short", clip("short", 0.2)),
        StageInput("missing", missing),
        StageInput("longer", clip("longer", 2.0)),
    ]


def test_a_clip_that_fails_fails_alone(batch: list[StageInput]) -> None:
    outputs = Lengths().describe(batch)

    assert [o.item_id for o in outputs] == ["long", "short", "missing", "longer"]
    assert [o.text for o in outputs if o.ok] == ["1.0 s", "2.0 s"]
    assert outputs[1].error == "ValueError: 0.2 s is too short"
    assert outputs[2].error is not None and "missing.wav" in outputs[2].error


def test_a_model_that_cannot_load_fails_the_batch(batch: list[StageInput]) -> None:
    broken = Lengths()
    broken.broken = True
    with pytest.raises(CascadeError, match="cannot load"):
        broken.describe(batch)


def test_no_captioner_repeats_the_isolation() -> None:
    folder = Path(__file__).resolve().parent.parent / "captioners"
    for path in sorted(folder.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "self.failure(item, error)" not in text, path.name
