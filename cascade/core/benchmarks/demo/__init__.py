"""The bundled demo benchmark: 32 items in MMAR's format with generated audio, all shipped here
(`meta.jsonl`, `audio/`; how they were made: README.md)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from cascade.core.benchmarks.files import RawRecord
from cascade.core.benchmarks.mmar import Mmar
from cascade.core.benchmarks.spec import BenchmarkSpec
from cascade.core.errors import BenchmarkError


class Demo(Mmar):
    """MMAR's fields, predictions format and official rule; its own shipped items and audio."""

    name: ClassVar[str] = "demo"
    format_hint: ClassVar[str] = ""

    def source(self, spec: BenchmarkSpec) -> tuple[Path, Path | None]:
        if spec.source != "local":
            raise BenchmarkError(
                "the demo benchmark ships with the package (benchmark.source=local)"
            )
        meta = spec.meta or self.data_file("meta.jsonl")
        return meta, spec.audio_root or meta.parent

    def claims(self, records: Sequence[RawRecord]) -> bool:
        return False  # a file in MMAR's format is read as MMAR's, as it always was
