"""Shared fixtures: a small benchmark in MMAR's format with synthetic audio, and run configs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cascade.run import RunConfig
from cascade.run.config import validate
from cascade.testing import sine
from tests.ray_cluster import ray_cluster

__all__ = ["ray_cluster"]  # a fixture for the tests of the Ray executor

ITEMS = [
    # id, modality, category, choices, answer
    ("tone-440", "sound", "Signal Layer", ["220 Hz", "440 Hz", "880 Hz", "1000 Hz"], "440 Hz"),
    ("tone-880", "sound", "Signal Layer", ["220 Hz", "440 Hz", "880 Hz", "1000 Hz"], "880 Hz"),
    ("speech-yes", "speech", "Semantic Layer", ["Yes", "No"], "No"),
    ("music-mood", "music", "Perception Layer", ["Happy", "Sad", "Angry"], "Sad"),
    (
        "mix-6",
        "mix-sound-speech",
        "Cultural Layer",
        ["one", "two", "three", "four", "five", "six"],
        "six",
    ),
    ("speech-count", "speech", "Perception Layer", ["Two", "Three", "Four", "Five"], "Three"),
]


def write_benchmark(root: Path, items: list[tuple[Any, ...]] = ITEMS) -> Path:
    """A meta.jsonl plus one short sine clip per item under `root`; returns the meta path."""
    (root / "audio").mkdir(parents=True, exist_ok=True)
    lines = []
    for number, (item_id, modality, category, choices, answer) in enumerate(items):
        sine(root / "audio" / f"{item_id}.wav", frequency=200.0 + 100 * number, seconds=0.5)
        lines.append(
            {
                "id": item_id,
                "audio_path": f"./audio/{item_id}.wav",
                "question": f"Question about {item_id}?",
                "choices": choices,
                "answer": answer,
                "modality": modality,
                "category": category,
                "sub-category": "Test Sub-category",
                "language": "en" if "speech" in modality else None,
            }
        )
    meta = root / "meta.jsonl"
    meta.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return meta


def correct_letter(item_id: str) -> str:
    _, _, _, choices, answer = next(i for i in ITEMS if i[0] == item_id)
    return "ABCDEF"[choices.index(answer)]


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    return write_benchmark(tmp_path / "bench")


MakeConfig = Callable[..., RunConfig]


@pytest.fixture
def make_config(tmp_path: Path, bench: Path) -> MakeConfig:
    """A run config over the test benchmark with scripted components; keyword args override."""

    def make(**overrides: Any) -> RunConfig:
        data: dict[str, Any] = {
            "name": "test",
            "benchmark": {"name": "demo", "meta": str(bench), "audio_root": str(bench.parent)},
            "captioners": [{"name": "scripted"}],
            "reasoner": {
                "name": "scripted",
                "config": {
                    "answers": {i[0]: f"Thinking...\nANSWER: {correct_letter(i[0])}" for i in ITEMS}
                },
            },
            "run": {"output_dir": str(tmp_path / "runs"), "batch_size": 2},
            "cache_dir": str(tmp_path / "cache"),
        }
        for key, value in overrides.items():
            node = data
            parts = key.split("__")
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
                node[parts[-1]] = {**node[parts[-1]], **value}  # sections merge, keys replace
            else:
                node[parts[-1]] = value
        return validate(data)

    return make
