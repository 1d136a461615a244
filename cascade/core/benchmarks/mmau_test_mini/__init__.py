"""MMAU test-mini (arXiv 2410.19168): 1000 items; metadata shipped here
(`mmau-test-mini.json`, README.md), audio from the MMAU release."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from cascade.core.benchmarks.definition import BenchmarkDefinition
from cascade.core.benchmarks.files import RawRecord
from cascade.core.benchmarks.spec import BenchmarkSpec
from cascade.core.benchmarks.token_set import token_set_match
from cascade.core.errors import BenchmarkError


class MmauTestMini(BenchmarkDefinition):
    """MMAU test-mini: its fields, its predictions (`model_output`, which its script reads;
    `model_prediction`, which its README names, accepted), and its official rule, the same
    token-set match as MMAR's (`evaluation.py`)."""

    name: ClassVar[str] = "mmau-test-mini"
    prediction_keys: ClassVar[tuple[str, ...]] = ("model_output", "model_prediction")
    format_hint: ClassVar[str] = "MMAU's (a `task` field)"

    def fields(self, record: RawRecord) -> dict[str, Any]:
        category = record.get("category")
        if isinstance(category, list) and all(isinstance(c, str) for c in category):
            category = "|".join(category)  # a few MMAU items list their category: ["Reasoning"]
        return {
            "id": record.get("id"),
            "audio_path": record.get("audio_id"),
            "question": record.get("question"),
            "choices": record.get("choices"),
            "answer": record.get("answer"),
            "modality": record.get("task"),
            "category": category,
            "sub_category": record.get("sub-category"),
            "language": None,
        }

    def source(self, spec: BenchmarkSpec) -> tuple[Path, Path | None]:
        if spec.source != "local":
            raise BenchmarkError(
                "MMAU test-mini loads from local files only (benchmark.source=local)"
            )
        return spec.meta or self.data_file("mmau-test-mini.json"), spec.audio_root

    def official_match(self, answer: str, prediction: str, choices: Sequence[str]) -> bool:
        return token_set_match(answer, prediction, choices)

    def claims(self, records: Sequence[RawRecord]) -> bool:
        # MMAR's format is told by its `modality` field, which MMAU's records do not have.
        keys = set().union(*(r.keys() for r in records))
        return "task" in keys and "modality" not in keys
