"""`cascade describe`: what the cascade hears in any audio files, per stage and composed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cascade.core import Cache, ItemsFailed
from cascade.run import Clipped, Counts, compose, plan, run_stages
from cascade.run import config as run_configs


@dataclass(frozen=True)
class Described:
    clips: list[dict[str, Any]]
    """Per clip: `audio`, `stages` (each stage's output with `cached`) and the composed
    `description` (None when a stage failed)."""
    counts: Counts
    """Stage outputs computed, re-used and failed."""


def describe(
    audio: Sequence[Path],
    *,
    config: str = "default",
    captioners: Sequence[str] = (),
    overrides: Sequence[str] = (),
) -> Described:
    """Run the front-end stages of `config` (or the `captioners` named) over the `audio` files
    through the cache and compose each description with the config's template."""
    resolved = run_configs.resolve(config, captioners=captioners, overrides=overrides)
    stages = plan.build_stages(resolved)
    template = plan.load_prompts(resolved).description
    counts = Counts()
    items = [Clipped(str(p), p) for p in audio]
    cache = Cache(resolved.cache_dir)
    cache.check_writable()
    records = run_stages(items, stages, cache, counts)
    clips: list[dict[str, Any]] = []
    for item in items:
        outputs = [r.output for r in records[item.item_id]]
        ok = all(o.ok for o in outputs)
        clips.append(
            {
                "audio": item.item_id,
                "stages": [
                    o.to_json() | {"cached": r.cached}
                    for o, r in zip(outputs, records[item.item_id], strict=True)
                ],
                "description": compose(outputs, template) if ok else None,
            }
        )
    return Described(clips, counts)


def check_described(described: Described) -> None:
    """Exit code 3 when a clip has no description (a stage failed on it)."""
    failed = [clip["audio"] for clip in described.clips if clip["description"] is None]
    if failed:
        raise ItemsFailed(
            f"{len(failed)} of {len(described.clips)} clips have no description "
            f"({', '.join(failed[:3])}{', ...' if len(failed) > 3 else ''}): see the stage "
            "errors above",
            len(failed),
        )
