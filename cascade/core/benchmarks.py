"""Benchmark loaders: read metadata, validate every item (naming it), filter, locate audio."""

from __future__ import annotations

import json
import tarfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cascade.core.components import require
from cascade.core.errors import BenchmarkError
from cascade.core.records import Item
from cascade.core.textfiles import read_text

MAX_CHOICES = 26
SHIPPED = "cascade.data"
HUB_REPO = "BoJack/MMAR"


class BenchmarkSpec(BaseModel):
    """Which benchmark a run evaluates, and on which of its items."""

    model_config = ConfigDict(extra="forbid")

    name: str = "demo"
    """A registered benchmark (`cascade list`)."""
    meta: Path | None = None
    """A metadata file (.json or .jsonl) in the benchmark's format, instead of the shipped one."""
    audio_root: Path | None = None
    """Folder that the items' `audio_path` values are relative to."""
    source: str = "local"
    """`local` (meta and audio on disk) or `hub` (download from the Hugging Face dataset)."""
    limit: int | None = Field(default=None, ge=1)
    """Keep only the first N items (after the other filters)."""
    ids: list[str] = Field(default_factory=list)
    """Keep only these item ids (an unknown id is an error)."""
    modalities: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    sub_categories: list[str] = Field(default_factory=list)
    skip_missing_audio: bool = False
    """Run without the items whose audio is missing (listed in the summary) instead of failing."""


@dataclass(frozen=True)
class Benchmark:
    """The validated, filtered items of one benchmark, and what was left out and why."""

    name: str
    items: tuple[Item, ...]
    prediction_key: str = "answer_prediction"
    """The key the benchmark's official scorer reads the prediction from."""
    skipped: Mapping[str, str] = field(default_factory=dict)
    """item id -> reason, for items left out of the run (missing audio, when asked to skip)."""


RawRecord = Mapping[str, Any]
Adapter = Callable[[RawRecord], dict[str, Any]]


def read_records(path: Path) -> list[RawRecord]:
    """Records of a .json (a list) or .jsonl (one object per line) metadata or predictions file.

    Raises:
        BenchmarkError: naming the file (and the line where known) when it is missing, not UTF-8
            text (latin-1 bytes, a binary file), not valid JSON (e.g. cut off), not a list of
            objects, or holds no record at all.
    """
    if not path.is_file():
        raise BenchmarkError(f"benchmark metadata not found: {path}")
    text = read_text(path, kind="metadata or predictions file", error=BenchmarkError)
    if path.suffix == ".jsonl":
        records = []
        # A line ends at "\n" (or "\r\n") only: a JSON string may hold U+2028, U+0085 or a
        # form feed unescaped, at which `splitlines` would cut it.
        for number, line_text in enumerate(text.split("\n"), start=1):
            if not line_text.strip():
                continue
            try:
                records.append(json.loads(line_text))
            except json.JSONDecodeError as error:
                raise BenchmarkError(
                    f"{path} line {number}: not valid JSON ({error.msg}: column {error.colno}); "
                    "each line of a .jsonl file must be one complete JSON object (is the file "
                    "cut off?)"
                ) from None
    else:
        try:
            records = json.loads(text)
        except json.JSONDecodeError as error:
            raise BenchmarkError(
                f"{path} line {error.lineno}: not valid JSON ({error.msg}: column "
                f"{error.colno}); a .json file must hold one complete list of objects, one per "
                "item (is the file cut off?)"
            ) from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise BenchmarkError(f"{path}: expected a list of objects, one per item")
    if not records:
        raise BenchmarkError(f"{path} holds no items: expected one JSON object per item")
    return records


def mmar_fields(record: RawRecord) -> dict[str, Any]:
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


def mmau_fields(record: RawRecord) -> dict[str, Any]:
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


def _check_record(label: str, fields: Mapping[str, Any]) -> list[str]:
    problems = []
    for key in ("id", "audio_path", "question", "answer", "modality", "category", "sub_category"):
        if not isinstance(fields[key], str) or not fields[key]:
            problems.append(f"field {key.replace('_', '-')!r} is missing or not a non-empty string")
    choices = fields["choices"]
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        problems.append("field 'choices' is missing or not a list of strings")
    else:
        # Repeated choices occur in MMAU test-mini; scoring compares option texts, so they are
        # harmless as long as two different options remain.
        if len(set(choices)) < 2 or len(choices) > MAX_CHOICES:
            problems.append(f"has {len(choices)} choices; at least 2 different ones are needed")
        if isinstance(fields["answer"], str) and fields["answer"] not in choices:
            problems.append(f"answer {fields['answer']!r} is not one of the choices {choices}")
    if fields["language"] is not None and not isinstance(fields["language"], str):
        problems.append("field 'language' is neither null nor a string")
    return [f"item {label}: {p}" for p in problems]


def _safe_audio_path(item_id: str, audio_path: str, root: Path | None) -> Path | None:
    if "\x00" in audio_path:
        raise BenchmarkError(
            f"item {item_id}: audio_path {audio_path!r} contains a NUL byte, which no file name "
            "can hold: correct the metadata"
        )
    relative = PurePosixPath(audio_path.replace("\\", "/"))
    if relative.is_absolute() or Path(audio_path).is_absolute() or ".." in relative.parts:
        raise BenchmarkError(
            f"item {item_id}: audio_path {audio_path!r} escapes the audio root; "
            "paths must be relative and stay inside it"
        )
    if root is None:
        return None
    resolved = (root / relative).resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise BenchmarkError(f"item {item_id}: audio_path {audio_path!r} escapes the audio root")
    return resolved


def build_items(
    records: Sequence[RawRecord], *, benchmark: str, adapter: Adapter, audio_root: Path | None
) -> list[Item]:
    """Validate every record and build items; all problems are reported together, by item."""
    problems: list[str] = []
    items: list[Item] = []
    seen: Counter[str] = Counter()
    for index, record in enumerate(records):
        fields = adapter(record)
        label = fields["id"] if isinstance(fields["id"], str) and fields["id"] else f"#{index + 1}"
        found = _check_record(label, fields)
        if found:
            problems.extend(found)
            continue
        seen[fields["id"]] += 1
        try:
            audio = _safe_audio_path(fields["id"], fields["audio_path"], audio_root)
        except BenchmarkError as error:
            problems.append(str(error))
            continue
        items.append(
            Item(
                id=fields["id"],
                benchmark=benchmark,
                audio_path=fields["audio_path"],
                audio=audio,
                question=fields["question"],
                choices=tuple(fields["choices"]),
                answer=fields["answer"],
                modality=fields["modality"],
                category=fields["category"],
                sub_category=fields["sub_category"],
                language=fields["language"],
                meta=dict(record),
            )
        )
    problems.extend(f"item {i}: duplicate id ({n} items)" for i, n in seen.items() if n > 1)
    if problems:
        shown = "\n  ".join(problems[:30])
        more = f"\n  … and {len(problems) - 30} more" if len(problems) > 30 else ""
        raise BenchmarkError(f"{benchmark}: {len(problems)} invalid item(s):\n  {shown}{more}")
    return items


def select(items: Iterable[Item], spec: BenchmarkSpec) -> list[Item]:
    """Apply the spec's filters, in the benchmark's order; unknown filter values are errors."""
    pool = list(items)
    chosen = pool
    for values, attribute in (
        (spec.modalities, "modality"),
        (spec.categories, "category"),
        (spec.sub_categories, "sub_category"),
    ):
        if not values:
            continue
        known = {getattr(i, attribute) for i in pool}
        unknown = sorted(set(values) - known)
        if unknown:
            raise BenchmarkError(
                f"unknown {attribute.replace('_', '-')} {unknown}; known: {sorted(known)}"
            )
        chosen = [i for i in chosen if getattr(i, attribute) in values]
    if spec.ids:
        known_ids = {i.id for i in pool}
        unknown = [i for i in spec.ids if i not in known_ids]
        if unknown:
            raise BenchmarkError(f"unknown item id(s): {', '.join(unknown)}")
        wanted = set(spec.ids)
        chosen = [i for i in chosen if i.id in wanted]
    if spec.limit is not None:
        chosen = chosen[: spec.limit]
    return chosen


def check_audio(items: Sequence[Item], *, skip_missing: bool) -> tuple[list[Item], dict[str, str]]:
    """Report missing audio up front: fail listing the files, or drop them when asked to."""
    missing = {i.id: str(i.audio) for i in items if i.audio is None or not i.audio.is_file()}
    if missing and not skip_missing:
        listed = "\n  ".join(f"{i}: {p}" for i, p in list(missing.items())[:20])
        more = f"\n  … and {len(missing) - 20} more" if len(missing) > 20 else ""
        raise BenchmarkError(
            f"audio missing for {len(missing)} of {len(items)} item(s):\n  {listed}{more}\n"
            "Point benchmark.audio_root at the audio, or pass --skip-missing-audio to run without "
            "them (they are then listed on the console, in the run's summary.json and in its "
            "reports)."
        )
    kept = [i for i in items if i.id not in missing]
    return kept, {i: f"audio missing at {p}" for i, p in missing.items()}


def shipped_file(*parts: str) -> Path:
    """A data file that ships inside the package (benchmark metadata, demo audio)."""
    return Path(str(resources.files(SHIPPED).joinpath(*parts)))


def _finish(
    name: str,
    records: Sequence[RawRecord],
    adapter: Adapter,
    spec: BenchmarkSpec,
    audio_root: Path | None,
    *,
    need_audio: bool,
    prediction_key: str = "answer_prediction",
) -> Benchmark:
    items = select(
        build_items(records, benchmark=name, adapter=adapter, audio_root=audio_root), spec
    )
    skipped: dict[str, str] = {}
    if need_audio:
        items, skipped = check_audio(items, skip_missing=spec.skip_missing_audio)
    return Benchmark(name=name, items=tuple(items), prediction_key=prediction_key, skipped=skipped)


def load_mmar(spec: BenchmarkSpec, *, need_audio: bool = True) -> Benchmark:
    """MMAR from a local meta file (or the shipped one) and an audio root, or from the hub."""
    root: Path | None
    if spec.source == "hub":
        meta, root = _download_mmar()
    elif spec.source == "local":
        meta = spec.meta or shipped_file("mmar", "MMAR-meta.jsonl")
        root = spec.audio_root
    else:
        raise BenchmarkError(f"benchmark.source must be 'local' or 'hub', not {spec.source!r}")
    return _finish("mmar", read_records(meta), mmar_fields, spec, root, need_audio=need_audio)


def load_mmau(spec: BenchmarkSpec, *, need_audio: bool = True) -> Benchmark:
    """MMAU test-mini from a local meta file (or the shipped one) and an audio root."""
    if spec.source != "local":
        raise BenchmarkError("MMAU test-mini loads from local files only (benchmark.source=local)")
    meta = spec.meta or shipped_file("mmau", "mmau-test-mini.json")
    return _finish(
        "mmau-test-mini",
        read_records(meta),
        mmau_fields,
        spec,
        spec.audio_root,
        need_audio=need_audio,
        prediction_key="model_output",
    )


def with_audio_root(items: Sequence[Item], root: Path) -> list[Item]:
    """The same items with their audio resolved under another root."""
    return [replace(i, audio=_safe_audio_path(i.id, i.audio_path, root)) for i in items]


def _download_mmar() -> tuple[Path, Path]:
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


def load_demo(spec: BenchmarkSpec, *, need_audio: bool = True) -> Benchmark:
    """The bundled demo benchmark: MMAR's format, generated audio shipped in the package."""
    if spec.source != "local":
        raise BenchmarkError("the demo benchmark ships with the package (benchmark.source=local)")
    meta = spec.meta or shipped_file("demo", "meta.jsonl")
    root = spec.audio_root or meta.parent
    return _finish("demo", read_records(meta), mmar_fields, spec, root, need_audio=need_audio)
