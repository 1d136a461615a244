"""Scaling: time per item and peak memory as the number of items grows.

Each size runs in a process of its own: the pipeline's Runner over the items (the batches), then
its finalisation (metrics, predictions, report.md and report.html); the peak RSS is read after
each. Items are the demo items repeated under new ids; front-end whisper + audioset + signal; the
scripted reasoner (no model: what is left is the harness).

- `harness` (default): one priming process describes the 32 distinct demo clips with the real
  front-end; every size then runs on that cache, so every front-end output is a cache hit (the
  same clip under another id is described once, by design) and the time per item is what the
  harness costs per item: cache look-ups, hashing, prompts, result lines.
- `--compute`: every item gets audio of its own (the demo clip scaled by a gain that differs per
  item, so its content hash differs) and a fresh cache: the real front-end computes every item.
  Models load inside the first batch of each size (counted), and the first items of the demo
  are not the average clip length, so compare sizes that share most of their items.

Flat time per item and a peak RSS that does not grow with the item count are the targets.

Run: python perf/scaling.py [--quick] [--compute]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from common import (
    ROOT,
    header,
    machine,
    peak_rss_mb,
    repeated_demo,
    scratch,
    timed,
    write_results,
)


def write_config(folder: Path, name: str, meta: tuple[Path, Path] | None, cache: Path) -> Path:
    benchmark: dict[str, Any] = {"name": "demo"}
    if meta is not None:
        benchmark["meta"], benchmark["audio_root"] = str(meta[0]), str(meta[1])
    config = {
        "name": name,
        "benchmark": benchmark,
        "captioners": ["whisper", "audioset", "signal"],
        "reasoner": {"name": "scripted"},
        "run": {"run_dir": str(folder / name), "batch_size": 16},
        "cache_dir": str(cache),
    }
    path = folder / f"{name}.yaml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def child(config_path: Path) -> None:
    """In the child process: the run's batches, then its finalisation (metrics and reports),
    with the peak RSS after each, printed as one JSON line."""
    from cascade.core import Cache
    from cascade.report import write_run_reports
    from cascade.run import RunDir, Runner, executor_by_name, pipeline, plan
    from cascade.run.config import read_yaml, validate

    config = validate(read_yaml(config_path))
    benchmark = plan.load_benchmark(config.benchmark)
    runner = Runner(
        config,
        benchmark,
        plan.build_stages(config),
        plan.build_reasoner(config),
        plan.load_prompts(config),
        Cache(config.cache_dir),
    )
    executor = executor_by_name(config.run.executor)
    with RunDir(pipeline.run_directory(config)) as run_dir:
        run_dir.check_config(config.model_dump(mode="json"), config.fingerprint())
        job = pipeline.begin(runner, run_dir)
        executor.start(job)
        with timed() as batches:
            executor.compute([job])
        summary = job.summary
        summary.wall_seconds = batches.seconds
        batches_rss = peak_rss_mb()
        with timed() as finalising:
            pipeline.finalize(run_dir, config, benchmark, summary)
            write_run_reports(run_dir.path)
    print(
        json.dumps(
            {
                "batches_s": round(summary.wall_seconds, 4),
                "finalize_s": round(finalising.seconds, 4),
                "peak_rss_batches_mb": round(batches_rss, 1),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "frontend_model_s": round(summary.frontend.model_seconds, 3),
                "stages_computed": summary.frontend.computed,
                "stages_reused": summary.frontend.reused,
            }
        )
    )


def run(config: Path, limit_s: float = 1800) -> dict[str, Any]:
    """This script in `--child` mode on `config`, in a process of its own; its figures."""
    with timed() as wall:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child", str(config)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=limit_s,
        )
    if done.returncode != 0:
        raise RuntimeError(f"{config.name}: exit {done.returncode}\n{done.stderr[-2000:]}")
    return {"process_s": round(wall.seconds, 3), **json.loads(done.stdout.splitlines()[-1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--compute", action="store_true", help="unique audio, front-end computes")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    sizes: tuple[int, ...]
    if args.compute:
        sizes = (4, 8, 16) if args.quick else (10, 30, 100)
    else:
        sizes = (10, 30, 100) if args.quick else (10, 30, 100, 300, 1000)
    mode = "compute" if args.compute else "harness"
    info = machine()
    header(
        f"scaling ({mode})",
        f"sizes {list(sizes)}, demo items repeated under new ids, front-end whisper + audioset + "
        "signal "
        + (
            "computing every item (unique audio, fresh cache per size)"
            if args.compute
            else "from a primed cache (the 32 distinct clips described once beforehand)"
        )
        + ", scripted reasoner, batch size 16, one process per size",
        info,
    )
    rows: list[dict[str, Any]] = []
    with scratch("scaling") as folder:
        shared_cache = folder / "cache"
        prime: dict[str, Any] | None = None
        if not args.compute:
            prime = run(write_config(folder, "prime", None, shared_cache))
            print(f"priming the cache (32 clips, models loaded): {prime['process_s']:.1f} s")
        for count in sizes:
            meta = repeated_demo(folder / f"m{count}", count, unique_audio=args.compute)
            cache = folder / f"cache-{count}" if args.compute else shared_cache
            result = run(write_config(folder, f"n{count}", meta, cache))
            row = {
                "items": count,
                **result,
                "batches_ms_per_item": round(1000 * result["batches_s"] / count, 2),
                "finalize_ms_per_item": round(1000 * result["finalize_s"] / count, 2),
            }
            rows.append(row)
            print(
                f"n={count:4}: batches {row['batches_s']:7.2f} s = "
                f"{row['batches_ms_per_item']:8.2f} ms/item; metrics+reports "
                f"{row['finalize_s']:5.2f} s; peak RSS {row['peak_rss_batches_mb']:6.1f} MB after "
                f"the batches, {row['peak_rss_mb']:6.1f} MB with the reports (stages computed "
                f"{row['stages_computed']}, re-used {row['stages_reused']})"
            )
    first, last = rows[0], rows[-1]
    figures = {
        "mode": mode,
        "prime": prime,
        "sizes": rows,
        "per_item_ratio_largest_over_smallest": round(
            last["batches_ms_per_item"] / first["batches_ms_per_item"], 3
        ),
        "peak_rss_batches_ratio_largest_over_smallest": round(
            last["peak_rss_batches_mb"] / first["peak_rss_batches_mb"], 3
        ),
        "peak_rss_ratio_largest_over_smallest": round(
            last["peak_rss_mb"] / first["peak_rss_mb"], 3
        ),
    }
    print(
        f"\ntime per item (batches) n={last['items']} / n={first['items']}: "
        f"{figures['per_item_ratio_largest_over_smallest']:.2f} (flat = 1); peak RSS after the "
        f"batches {figures['peak_rss_batches_ratio_largest_over_smallest']:.2f}x, with the "
        f"reports {figures['peak_rss_ratio_largest_over_smallest']:.2f}x, for "
        f"{last['items'] / first['items']:.0f}x the items"
    )
    write_results(f"scaling-{mode}", figures, info, quick=args.quick)


if __name__ == "__main__":
    main()
