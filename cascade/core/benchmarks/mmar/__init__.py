"""MMAR (arXiv 2505.13032): 1000 items; metadata shipped here (`MMAR-meta.jsonl`, README.md),
audio from a local folder or the Hugging Face dataset `BoJack/MMAR`."""

from __future__ import annotations

import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from cascade.core.benchmarks.definition import BenchmarkDefinition
from cascade.core.benchmarks.files import RawRecord
from cascade.core.benchmarks.spec import BenchmarkSpec
from cascade.core.benchmarks.token_set import token_set_match
from cascade.core.components import require
from cascade.core.errors import BenchmarkError

HUB_REPO = "BoJack/MMAR"


class Mmar(BenchmarkDefinition):
    """MMAR: its fields, its predictions (`answer_prediction`; `model_output` accepted), and
    its official rule, the token-set match of `code/evaluation.py`."""

    name: ClassVar[str] = "mmar"
    prediction_keys: ClassVar[tuple[str, ...]] = ("answer_prediction", "model_output")
    format_hint: ClassVar[str] = "MMAR's format (a `modality` field)"

    def fields(self, record: RawRecord) -> dict[str, Any]:
        return {
            "id": record.get("id"),
            "audio_path": record.get("audio_path"),
            "question": record.get("question"),
            "choices": record.get("choices"),
            "answer": record.get("answer"),
            "modality": record.get("modality"),
            "category": record.get("category"),
            "sub_category": record.get("sub-category"),
            "language": record.get("language"),
        }

    def source(self, spec: BenchmarkSpec) -> tuple[Path, Path | None]:
        if spec.source == "hub":
            return _download()
        if spec.source == "local":
            return spec.meta or self.data_file("MMAR-meta.jsonl"), spec.audio_root
        raise BenchmarkError(f"benchmark.source must be 'local' or 'hub', not {spec.source!r}")

    def official_match(self, answer: str, prediction: str, choices: Sequence[str]) -> bool:
        return token_set_match(answer, prediction, choices)

    def claims(self, records: Sequence[RawRecord]) -> bool:
        return any("modality" in r for r in records)


def _download() -> tuple[Path, Path]:
    """Fetch MMAR's meta and audio archive from the hub (cached by huggingface_hub) and unpack."""

    hub = require("huggingface_hub", component="benchmark 'mmar' from the hub", extra="hub")
    meta = Path(hub.hf_hub_download(HUB_REPO, "MMAR-meta.jsonl", repo_type="dataset"))
    archive = Path(hub.hf_hub_download(HUB_REPO, "mmar-audio.tar.gz", repo_type="dataset"))
    root = archive.parent / "mmar-audio"
    done = root / ".complete"
    if not done.exists():
        root.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter="data")
        done.touch()
    # The archive holds an `audio/` folder, matching the meta's `./audio/<id>.wav` paths.
    return meta, root
