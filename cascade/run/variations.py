"""Ablation hooks of a run: the audio the front-end hears, and where the description comes from.

A `Perturbation` is built from a run config and the run's items. With the config's defaults it is
the identity (the item's own clip; the front-end's outputs composed unchanged), so ordinary runs
are byte-for-byte what they were. Otherwise:

- audio `noise` / `silence`: a generated clip of the item's length, written once as FLAC under
  `<cache>/synthetic/`, so its content hash is stable and the front-end cache hits on re-runs;
- audio `snr_db`: the item's own clip with seeded white noise mixed in at that signal-to-noise
  ratio, written once under `<cache>/synthetic/snr/` the same way;
- audio `shuffle`: the clip of another item (a seeded derangement); with an oracle description,
  the other item's annotations;
- description `oracle`: the benchmark's annotations rendered by a template, no front-end;
- truncation, word dropout and simulated ASR errors on what each part of the description says.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cascade.core import (
    AudioError,
    CascadeError,
    Clip,
    ConfigError,
    Item,
    PromptError,
    PromptTemplate,
    StageOutput,
    content_hash,
    digest,
    prompts,
    replacing,
)
from cascade.run import degrade
from cascade.run.config import AudioSpec, DescriptionSpec, RunConfig
from cascade.run.description import compose

SYNTHETIC_RATE = 16000
NOISE_RMS = 0.1
"""White noise at -20 dBFS RMS: clearly audible, never clipping in practice."""
CLIP_PEAK = 0.99
"""Peak a noisy mixture is scaled down to when it would clip (16-bit FLAC holds up to 1)."""
ORACLE_FIELDS = ("cue", "thinking")
NONE = "(none)"
"""An annotation the item lacks, or that truncation removed."""


def needs_audio(config: RunConfig) -> bool:
    """Whether the run reads any clip (a text-only or oracle run needs none on disk; an agent
    run's tools do)."""
    if config.agent is not None:
        return True
    return bool(config.captioners) and config.description.source == "frontend"


def seeded(*parts: Any) -> random.Random:
    """A generator seeded by the digest of `parts` (stable across processes and platforms)."""
    return random.Random(int(digest(list(parts))[:16], 16))


def derangement(ids: Sequence[str], seed: int) -> dict[str, str]:
    """Each id -> another id, a uniformly drawn permutation without fixed points.

    Raises:
        CascadeError: with fewer than two items (nothing to shuffle with).
    """
    if len(ids) < 2:
        raise CascadeError(f"audio.replace=shuffle needs at least two items, got {len(ids)}")
    rng = seeded("shuffle", seed, list(ids))
    order = list(ids)
    while True:  # rejection sampling: about e draws on average, uniform over derangements
        rng.shuffle(order)
        if all(a != b for a, b in zip(ids, order, strict=True)):
            return dict(zip(ids, order, strict=True))


def clip_seconds(path: Path) -> float:
    """Duration of a clip, from its header when libsndfile reads it, else by decoding."""
    import soundfile as sf

    try:
        return float(sf.info(str(path)).duration)
    except Exception:
        return Clip(path).duration_s


def _synthetic(
    kind: str, seconds: float, *, item_id: str, seed: int, root: Path
) -> tuple[Path, dict[str, Any], int]:
    """Where the generated clip replacing one item's audio lives, its identity and its frames."""
    frames = max(1, round(seconds * SYNTHETIC_RATE))
    identity: dict[str, Any] = {"kind": kind, "frames": frames, "rate": SYNTHETIC_RATE}
    if kind == "noise":
        identity |= {"seed": seed, "item": item_id, "rms": NOISE_RMS}
    return root / "synthetic" / kind / f"{digest(identity)[:24]}.flac", identity, frames


def synthetic_clip(kind: str, seconds: float, *, item_id: str, seed: int, root: Path) -> Path:
    """The generated clip replacing one item's audio: mono FLAC at 16 kHz, made once.

    Noise is seeded by (seed, item id), so every item hears its own noise and a re-run hears the
    same; silence depends on the length only.
    """
    path, identity, frames = _synthetic(kind, seconds, item_id=item_id, seed=seed, root=root)
    if path.is_file():
        return path
    if kind == "noise":
        rng = np.random.default_rng(int(digest(identity)[:16], 16))
        samples = np.clip(rng.normal(0.0, NOISE_RMS, frames), -1.0, 1.0).astype(np.float32)
    else:
        samples = np.zeros(frames, dtype=np.float32)
    _write_flac(path, samples)
    return path


def noisy_clip(source: Path, snr_db: float, *, item_id: str, seed: int, root: Path) -> Path:
    """The item's own clip with white noise mixed in at `snr_db`, made once.

    The noise is seeded by (seed, item id, the clip's content) and scaled so that its power over
    the whole clip is exactly the clip's power / 10^(snr_db / 10): the mixture's SNR is the one
    asked for. Channels and sample rate are kept; a mixture that would clip is scaled down as a
    whole, which keeps the ratio.

    Raises:
        AudioError: the clip is unreadable or silent (no signal to set a ratio against).
    """
    identity = {"kind": "snr", "snr_db": snr_db, "seed": seed, "item": item_id}
    identity["source"] = content_hash(source)
    path = root / "synthetic" / "snr" / f"{digest(identity)[:24]}.flac"
    if path.is_file():
        return path
    clip = Clip(source)
    signal, rate = clip.channels.astype(np.float64), clip.native_rate
    power = float(np.mean(signal**2))
    if power == 0.0:
        raise AudioError(f"the clip {source} is silent: no signal to set a {snr_db} dB SNR against")
    rng = np.random.default_rng(int(digest(identity)[:16], 16))
    noise = rng.normal(0.0, 1.0, signal.shape)
    noise *= np.sqrt(power / 10 ** (snr_db / 10) / float(np.mean(noise**2)))
    mixed = signal + noise
    peak = float(np.max(np.abs(mixed)))
    if peak > CLIP_PEAK:
        mixed *= CLIP_PEAK / peak
    _write_flac(path, mixed.astype(np.float32), rate)
    return path


def _write_flac(
    path: Path, samples: np.ndarray[Any, np.dtype[np.float32]], rate: int = SYNTHETIC_RATE
) -> None:
    import soundfile as sf

    # The cache's way of writing any file, safe beside writers on other machines.
    with replacing(path) as partial:
        sf.write(str(partial), samples, rate, format="FLAC", subtype="PCM_16")


def _bullets(values: Any) -> str:
    if isinstance(values, list):
        return "\n".join(f"- {str(v).strip()}" for v in values if str(v).strip())
    return str(values or "").strip()


def oracle_fields(item: Item) -> dict[str, str]:
    """The item's annotations as description parts: `cue` as a bullet list, `thinking` as text."""
    return {name: _bullets(item.meta.get(name)) for name in ORACLE_FIELDS}


def degrade_parts(
    parts: Sequence[tuple[str, str]], spec: DescriptionSpec, item_id: str
) -> list[tuple[str, str | None]]:
    """(label, text) parts degraded as the spec says; a part truncated away becomes None."""
    chosen = set(spec.degrade_stages)
    budget = spec.truncate_words
    out: list[tuple[str, str | None]] = []
    for label, text in parts:
        if chosen and label not in chosen:
            out.append((label, text))
            continue
        new: str | None = text
        if budget is not None:
            words = degrade.word_count(text)
            new = degrade.truncate(text, budget) if budget < words else text
            new = new if (new or not text.strip()) else None
            budget = max(0, budget - words)
        if new and spec.word_dropout > 0:
            new = degrade.word_dropout(new, spec.word_dropout, seeded(spec.seed, item_id, label))
        if new and spec.asr_wer > 0:
            rng = seeded(spec.seed, item_id, label, "asr")
            new = degrade.asr_errors(new, spec.asr_wer, rng).text
        out.append((label, new))
    return out


def _degrades(spec: DescriptionSpec) -> bool:
    return spec.truncate_words is not None or spec.word_dropout > 0 or spec.asr_wer > 0


class Perturbation:
    """The audio and description hooks of one run (the identity with default settings)."""

    def __init__(self, config: RunConfig, items: Sequence[Item], cache_root: Path) -> None:
        self.audio_spec: AudioSpec = config.audio
        self.description_spec: DescriptionSpec = config.description
        self.cache_root = cache_root
        self.items = {i.id: i for i in items}
        self.donors: Mapping[str, str] = (
            derangement([i.id for i in items], config.audio.seed)
            if config.audio.replace == "shuffle"
            else {}
        )
        self.oracle: PromptTemplate | None = (
            prompts.load(config.description.oracle_template)
            if config.description.source == "oracle"
            else None
        )
        parts = list(ORACLE_FIELDS) if self.oracle else [c.stage for c in config.captioners]
        if unknown := sorted(set(config.description.degrade_stages) - set(parts)):
            raise ConfigError(
                f"description.degrade_stages names {unknown}, which this run's description does "
                f"not have; its parts: {parts}"
            )

    def _source(self, item: Item) -> Item:
        """The item whose audio (or annotations) stand in for this one's."""
        return self.items[self.donors[item.id]] if self.donors else item

    def audio(self, item: Item, *, make: bool = True) -> Path | None:
        """The clip the front-end hears for `item` (generating a substitute the first time).

        With `make` off nothing is made (reports only read): a substitute the run did not leave
        in the cache, or one whose item's clip is unreadable, is None.

        Raises:
            AudioError: a noise or silence substitute cannot be made (the item's clip, whose
                length it takes, is unreadable; or it cannot be written). The item fails: it
                never falls back to its own clip, which would score real audio as the ablation.
        """
        kind = self.audio_spec.replace
        if self.audio_spec.snr_db is not None:
            return self._noisy(item, self.audio_spec.snr_db)
        if kind == "none" or kind == "shuffle":
            return self._source(item).audio
        if item.audio is None:
            return None
        seed, root = self.audio_spec.seed, self.cache_root
        try:
            seconds = clip_seconds(item.audio)
            if make:
                return synthetic_clip(kind, seconds, item_id=item.id, seed=seed, root=root)
            path, _, _ = _synthetic(kind, seconds, item_id=item.id, seed=seed, root=root)
            return path if path.is_file() else None
        except Exception as error:
            if not make:
                return None  # the item failed for this reason: its card shows the error
            raise AudioError(
                f"item {item.id}: audio.replace={kind} cannot make its substitute clip "
                f"({type(error).__name__}: {error}); the item fails rather than hear its own "
                f"clip {item.audio}. Fix or replace that file and run again."
            ) from error

    def _noisy(self, item: Item, snr_db: float) -> Path | None:
        if item.audio is None:
            return None
        try:
            return noisy_clip(
                item.audio, snr_db, item_id=item.id, seed=self.audio_spec.seed, root=self.cache_root
            )
        except Exception as error:
            raise AudioError(
                f"item {item.id}: audio.snr_db={snr_db} cannot mix noise into its clip "
                f"({type(error).__name__}: {error}); the item fails rather than hear the clean "
                f"clip. Fix or replace {item.audio} and run again."
            ) from error

    def describe(self, item: Item, outputs: Sequence[StageOutput], template: PromptTemplate) -> str:
        """The description of `item`: composed front-end outputs, or the oracle, degraded."""
        spec = self.description_spec
        if self.oracle is not None:
            return self._oracle(self._source(item), spec)
        if not _degrades(spec):
            return compose(outputs, template)
        parts = degrade_parts([(o.stage, o.text) for o in outputs], spec, item.id)
        kept = [
            replace(output, text=text)
            for output, (_, text) in zip(outputs, parts, strict=True)
            if text is not None
        ]
        return compose(kept, template)

    def _oracle(self, item: Item, spec: DescriptionSpec) -> str:
        assert self.oracle is not None
        fields = oracle_fields(item)
        used = [f for f in ORACLE_FIELDS if f in self.oracle.placeholders]
        if not any(fields[f] for f in used):
            raise PromptError(
                f"item {item.id}: no {' or '.join(used)} annotation for an oracle description"
            )
        parts = degrade_parts([(f, fields[f]) for f in used], spec, item.id)
        return self.oracle.render_text(**{f: (text or NONE) for f, text in parts})
