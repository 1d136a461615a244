"""Items from records: validate every record (naming the item), filter, locate the audio."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from cascade.core.benchmarks.files import RawRecord
from cascade.core.benchmarks.spec import BenchmarkSpec
from cascade.core.errors import BenchmarkError
from cascade.core.records import Item

MAX_CHOICES = 26

Adapter = Callable[[RawRecord], dict[str, Any]]
"""A benchmark's reading of one record: the item's fields (`id`, `audio_path`, `question`,
`choices`, `answer`, `modality`, `category`, `sub_category`, `language`)."""


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
