"""Harness overhead: wall time of a demo run with warm models over the time spent inside them.

One process, one component pool. A short warm-up run loads every model (Whisper tiny.en, YAMNet,
the signal detectors, SmolLM2 on vLLM); its time is reported as loading and left out of every
ratio. Then the demo is run twice on fresh caches, so every model is really called:

- stages in sequence (`run.schedule=sequential`): wall time = harness + front-end + reasoner, so
  `overhead = 1 - (front-end model s + reasoner model s) / wall` is what the harness adds
  (cache look-ups and writes, audio hashing and decoding, prompts, result lines, scoring,
  reports). Target: under 5%.
- stages overlapped (the default): the front-end of batch k+1 runs while the reasoner answers
  batch k; its wall time against the sequential one is the gain from overlapping.

Run: python perf/overhead.py [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from common import (
    NO_PREFIX_CACHE,
    header,
    machine,
    preset,
    ratio,
    run_config,
    scratch,
    timed,
    write_results,
)


def measured_run(
    folder: Path, pool: Any, *, name: str, limit: int | None, batch_size: int, overlap: bool
) -> dict[str, Any]:
    from cascade import commands

    reasoner = preset("smollm2", **NO_PREFIX_CACHE)
    config = run_config(folder, name=name, limit=limit, batch_size=batch_size, reasoner=reasoner)
    config = config.model_copy(
        update={
            "run": config.run.model_copy(
                update={"schedule": "overlap" if overlap else "sequential"}
            )
        }
    )
    with timed() as whole:
        summary = commands.run(config, pool=pool)
    stats = summary.to_json()
    frontend_s = stats["stages"]["model_seconds"]
    reasoner_s = stats["reasoner"]["model_seconds"]
    return {
        "items": summary.total,
        "overlap": overlap,
        "execute_s": round(whole.seconds, 3),
        "batches_s": stats["wall_seconds"],
        "finalize_s": round(whole.seconds - stats["wall_seconds"], 3),
        "frontend_model_s": frontend_s,
        "reasoner_model_s": reasoner_s,
        "model_s": round(frontend_s + reasoner_s, 3),
        "stages_computed": stats["stages"]["computed"],
        "stages_reused": stats["stages"]["reused"],
        "answers_computed": stats["reasoner"]["computed"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 demo items instead of 32")
    args = parser.parse_args()
    limit, size = (8, 4) if args.quick else (None, 8)
    info = machine()
    header(
        "harness overhead",
        "demo benchmark, front-end whisper + audioset + signal, reasoner smollm2 (SmolLM2-135M "
        "on vLLM CPU, greedy, max_tokens 512, prefix caching off so that both runs compute "
        f"the same), batch size {size}, fresh caches, warm models",
        info,
    )
    from cascade.reasoners.vllm_offline import shutdown_engine

    from cascade.run import ComponentPool

    with scratch("overhead") as folder, ComponentPool() as pool:
        try:
            with timed() as loading:
                measured_run(
                    folder / "warm", pool, name="warm-up", limit=2, batch_size=2, overlap=False
                )
            print(f"loading (warm-up run of 2 items, excluded): {loading.seconds:.1f} s")
            serial = measured_run(
                folder / "serial", pool, name="serial", limit=limit, batch_size=size, overlap=False
            )
            overlapped = measured_run(
                folder / "overlap", pool, name="overlap", limit=limit, batch_size=size, overlap=True
            )
        finally:
            pool.close()
            shutdown_engine()
    overhead_batches = 1 - serial["model_s"] / serial["batches_s"]
    overhead_execute = 1 - serial["model_s"] / serial["execute_s"]
    figures: dict[str, Any] = {
        "items": serial["items"],
        "batch_size": size,
        "loading_s_excluded": round(loading.seconds, 3),
        "serial": serial,
        "overlapped": overlapped,
        "overhead_fraction_of_batches": round(overhead_batches, 4),
        "overhead_fraction_of_execute": round(overhead_execute, 4),
        "overlap_speedup": ratio(serial["batches_s"], overlapped["batches_s"]),
        "target_overhead_fraction": 0.05,
    }
    print(f"\n{'':28}{'sequential':>12}{'overlapped':>12}")
    for key in ("execute_s", "batches_s", "finalize_s", "frontend_model_s", "reasoner_model_s"):
        print(f"{key:28}{serial[key]:>12.2f}{overlapped[key]:>12.2f}")
    print(
        f"\nharness overhead (sequential, batches only): {100 * overhead_batches:.1f}% "
        f"of wall time (target < 5%)"
    )
    print(
        f"harness overhead (sequential, whole execute incl. metrics and reports): "
        f"{100 * overhead_execute:.1f}%"
    )
    print(f"overlap speed-up of the batches: {figures['overlap_speedup']:.2f}x")
    write_results("overhead", figures, info, quick=args.quick)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started:.0f} s")
