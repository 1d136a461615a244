"""Run the front-end stages over a batch of clips: cache first, decode once, isolate failures."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from cascade.core import Cache, Captioner, CascadeError, Clip, StageInput, StageOutput, stage_key
from cascade.run.isolation import Counts, run_isolated


@dataclass(frozen=True)
class Stage:
    """A captioner as used in a run, under its label (its name unless configured otherwise)."""

    label: str
    component: Captioner


@dataclass(frozen=True)
class Clipped:
    """What the front-end needs of an item: its id, its audio file, and its question."""

    item_id: str
    path: Path | None
    question: str = ""
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class StageRecord:
    """One stage's output for one item, with the cache key that holds it."""

    output: StageOutput
    key: str | None
    cached: bool


def stage_failure(stage: Stage, item_id: str, message: str) -> StageOutput:
    return StageOutput(item_id=item_id, stage=stage.label, kind=stage.component.kind, error=message)


def audio_failures(
    audio_errors: Mapping[str, str], stages: Sequence[Stage], counts: Counts
) -> dict[str, list[StageRecord]]:
    """Every stage's failure on the items whose audio could not be made (an ablation's substitute
    clip), counted: no stage looked anything up for them, so they hold no cache key."""
    for _ in audio_errors:
        for stage in stages:
            counts.tally(False, stage=stage.label)
    return {
        item_id: [
            StageRecord(stage_failure(stage, item_id, message), None, False) for stage in stages
        ]
        for item_id, message in audio_errors.items()
    }


def describe_isolated(stage: Stage, inputs: Sequence[StageInput]) -> list[StageOutput]:
    """The component's outputs for `inputs`; a batch that raises is retried item by item."""

    def mismatch(asked: Sequence[StageInput], outputs: Sequence[StageOutput]) -> str | None:
        if len(outputs) == len(asked) and all(
            o.item_id == i.item_id for o, i in zip(outputs, asked, strict=True)
        ):
            return None
        return (
            f"captioner {stage.label!r} returned {len(outputs)} outputs for {len(asked)} "
            "clips or changed their order"
        )

    return run_isolated(
        stage.component.describe,
        inputs,
        mismatch=mismatch,
        failed=lambda single, message, _: stage_failure(stage, single.item_id, message),
    )


def hash_clips(items: Sequence[Clipped], cache: Cache) -> tuple[dict[str, str], dict[str, str]]:
    """Each item's clip content hash, and the items whose clip cannot be read (with why)."""
    hashes: dict[str, str] = {}
    audio_errors: dict[str, str] = {}
    for item in items:
        try:
            if item.path is None:
                raise FileNotFoundError("no audio file for this item")
            hashes[item.item_id] = cache.audio_hash(item.path)
        except OSError as error:
            audio_errors[item.item_id] = f"audio unreadable: {error}"
    return hashes, audio_errors


def look_up(
    items: Sequence[Clipped],
    stage: Stage,
    cache: Cache,
    hashes: Mapping[str, str],
    audio_errors: Mapping[str, str],
    records: dict[str, dict[str, StageRecord]],
    counts: Counts,
) -> list[tuple[Clipped, str]]:
    """Record the stage's cached outputs (and its failures on unreadable clips) in `records`;
    return the items it must compute, with their cache keys."""
    identity = stage.component.identity
    namespace = f"stages/{identity.name}"
    misses: list[tuple[Clipped, str]] = []
    for item in items:
        if item.item_id in audio_errors:
            counts.tally(False, stage=stage.label)
            records[item.item_id][stage.label] = StageRecord(
                stage_failure(stage, item.item_id, audio_errors[item.item_id]), None, False
            )
            continue
        conditioning = (
            {"question": item.question, "choices": list(item.choices)}
            if stage.component.conditions_on_question
            else None
        )
        key = stage_key(hashes[item.item_id], identity, conditioning)
        hit = cache.get(namespace, key)
        if hit is not None:
            output = replace(StageOutput.from_json(hit), item_id=item.item_id, stage=stage.label)
            records[item.item_id][stage.label] = StageRecord(output, key, True)
            counts.tally(True, reused=True, stage=stage.label)
        else:
            misses.append((item, key))
    return misses


def run_stages(
    items: Sequence[Clipped], stages: Sequence[Stage], cache: Cache, counts: Counts
) -> dict[str, list[StageRecord]]:
    """Every stage's output for every item, in stage order, from the cache where possible.

    A clip that cannot be read fails every stage that needed to compute on it (with the reason);
    stages whose output was cached for that clip content still answer from the cache.
    """
    records: dict[str, dict[str, StageRecord]] = {i.item_id: {} for i in items}
    hashes, audio_errors = hash_clips(items, cache)
    clips: dict[str, Clip] = {}
    for stage in stages:
        identity = stage.component.identity
        namespace = f"stages/{identity.name}"
        misses = look_up(items, stage, cache, hashes, audio_errors, records, counts)
        if not misses:
            continue
        inputs: list[StageInput] = []
        keys: dict[str, str] = {}
        for item, key in misses:
            clip = clips.get(item.item_id)
            if clip is None:
                clip = clips[item.item_id] = Clip(item.path)  # type: ignore[arg-type]
                try:
                    clip.channels  # noqa: B018  (decode now: once per item, for every stage)
                except CascadeError as error:
                    audio_errors[item.item_id] = str(error)
            if item.item_id in audio_errors:
                counts.tally(False, stage=stage.label)
                records[item.item_id][stage.label] = StageRecord(
                    stage_failure(stage, item.item_id, audio_errors[item.item_id]), key, False
                )
                continue
            inputs.append(StageInput(item.item_id, clip, item.question, item.choices))
            keys[item.item_id] = key
        if not inputs:
            continue
        started = time.perf_counter()
        outputs = describe_isolated(stage, inputs)
        counts.model_seconds += time.perf_counter() - started
        for output in outputs:
            output = replace(output, stage=stage.label)
            key = keys[output.item_id]
            if output.ok:
                cache.put(namespace, key, {**output.to_json(), "identity": identity.to_json()})
            counts.tally(output.ok, stage=stage.label)
            records[output.item_id][stage.label] = StageRecord(output, key, False)
    return {i: [by_label[s.label] for s in stages] for i, by_label in records.items()}
