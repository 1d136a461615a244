"""Ray executor: reasoner throughput with 1, 2 and 4 workers, and Ray's overhead on a warm cache.

Every run is `cascade run` (`commands.run`) in a process of its own, so that each Ray run starts
and stops its own local cluster and no run inherits another's state.

- throughput: a latency-bound reasoner, the `openai` component against a local server (started
  here) that answers every chat completion after a fixed delay. No front-end (`captioners: []`),
  so the reasoner is all there is; the demo items repeated under new ids, each question tagged
  with its number so that no two prompts are alike; a fresh cache per run, so every answer is a
  request. The component's own concurrency is 1: with `run.executor=ray` and
  `reasoner.runtime.ray.actors=N`, N requests are in flight. Throughput is counted three ways:
  `serving` (the server's first request to its last answer: the pool at work), `batches` (the
  run's batches: under Ray the Ray Data job, the actors' start-up included) and `whole run`
  (`cascade run` with its metrics and reports; Ray's cluster start-up, timed apart, excluded).
  Scaling efficiency per added worker = throughput(N) / (N x throughput(1)); target >= 0.8.
  The local executor answers the same workload with concurrency 1 and 4, for reference.
- overhead: the demo benchmark (32 items, front-end `signal`, the scripted reasoner) on a cache
  warmed by one local run beforehand. `warm`: every output and answer is in the cache, so what
  is timed is the executor alone; `answers`: the front-end outputs are in the cache and the
  answers are computed again (the scripted reasoner under another config), so that Ray builds a
  reasoner pool. Local and Ray runs alternate, several of each, each into a new run directory;
  the ratio is ray / local, with and without Ray's start-up (a local cluster, timed apart).

Run: python perf/ray_scaling.py [--quick] [--local-only]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import (
    DEMO,
    ROOT,
    SlowChatServer,
    header,
    machine,
    ratio,
    repeated_demo,
    scratch,
    timed,
    write_results,
)

WORKERS = (1, 2, 4)
DELAY_S = 0.5
ACTOR_CPUS = 0.25
"""CPUs each reasoner actor reserves: it waits on the network, and four of them must fit on a
two-CPU machine beside Ray Data's own tasks."""
BATCH = 4
"""Items per call to the reasoner under Ray (`runtime.ray.batch_size`): small blocks keep every
actor busy to the end of the run instead of leaving one finishing a long last block alone."""


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def distinct_questions(folder: Path, count: int) -> Path:
    """`count` demo items under new ids, each question tagged with its item's number: repeated
    questions would be one prompt, answered once and then found in the cache."""
    meta, _ = repeated_demo(folder, count)
    rows = [json.loads(line) for line in meta.read_text(encoding="utf-8").splitlines()]
    for index, row in enumerate(rows):
        row["question"] = f"{row['question']} (item {index})"
    meta.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return meta


def throughput_config(
    folder: Path,
    name: str,
    meta: Path,
    base_url: str,
    *,
    executor: str,
    actors: int,
    concurrency: int,
) -> Path:
    reasoner = {
        "name": "openai",
        "config": {"model": "slow", "max_tokens": 16},
        "runtime": {
            "base_url": base_url,
            "concurrency": concurrency,
            "max_retries": 0,
            "ray": {"actors": actors, "num_cpus": ACTOR_CPUS, "batch_size": BATCH},
        },
    }
    return write_config(
        folder / f"{name}.yaml",
        {
            "name": name,
            "benchmark": {"name": "demo", "meta": str(meta), "audio_root": str(DEMO)},
            "captioners": [],
            "reasoner": reasoner,
            "run": {"run_dir": str(folder / name), "batch_size": 16, "executor": executor},
            "cache_dir": str(folder / f"cache-{name}"),
        },
    )


def demo_config(
    folder: Path, name: str, cache: Path, *, executor: str, fresh_answers: bool = False
) -> Path:
    reasoner: dict[str, Any] = {"name": "scripted", "runtime": {"ray": {"num_cpus": ACTOR_CPUS}}}
    if fresh_answers:  # another reasoner config: answers under new cache keys, computed again
        reasoner["config"] = {"reasoning": f"run {name}"}
    return write_config(
        folder / f"{name}.yaml",
        {
            "name": name,
            "benchmark": {"name": "demo"},
            "captioners": [{"name": "signal", "runtime": {"ray": {"num_cpus": ACTOR_CPUS}}}],
            "reasoner": reasoner,
            "run": {"run_dir": str(folder / name), "batch_size": 16, "executor": executor},
            "cache_dir": str(cache),
        },
    )


def child(config_path: Path) -> None:
    """In the child process: one run, its figures printed as one JSON line. Under Ray the local
    cluster is started first and timed apart (the executor uses a connection it finds made)."""
    from cascade import commands
    from cascade.run.config import read_yaml, validate

    config = validate(read_yaml(config_path))
    with contextlib.ExitStack() as stack:
        with timed() as starting:
            if config.run.executor == "ray":
                from cascade.run import distributed

                stack.enter_context(distributed.cluster(config.run.ray_address))
        with timed() as whole:
            summary = commands.run(config)
    stats = summary.to_json()
    print(
        json.dumps(
            {
                "items": summary.total,
                "ray_start_s": round(starting.seconds, 3),
                "run_s": round(whole.seconds, 3),
                "batches_s": stats["wall_seconds"],
                "errors": stats["errors"],
                "answers_computed": stats["reasoner"]["computed"],
                "answers_reused": stats["reasoner"]["reused"],
                "stages_computed": stats["stages"]["computed"],
                "stages_reused": stats["stages"]["reused"],
            }
        )
    )


def spawn(*args: str, limit_s: float = 1800) -> dict[str, Any]:
    """This script in a child mode, in a process of its own; its figures and its process time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with timed() as wall:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=limit_s,
        )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: exit {done.returncode}\n{done.stderr[-3000:]}")
    return {"process_s": round(wall.seconds, 3), **json.loads(done.stdout.splitlines()[-1])}


def throughput(folder: Path, count: int, executors: list[str]) -> dict[str, Any]:
    meta = distinct_questions(folder / "meta", count)
    rows: list[dict[str, Any]] = []
    cases: list[tuple[str, int, int]] = [("local", 1, 1), ("local", 1, max(WORKERS))]
    if "ray" in executors:
        cases += [("ray", n, 1) for n in WORKERS]
    for executor, actors, concurrency in cases:
        name = f"{executor}-a{actors}-c{concurrency}"
        with SlowChatServer(DELAY_S) as server:
            path = throughput_config(
                folder,
                name,
                meta,
                server.base_url,
                executor=executor,
                actors=actors,
                concurrency=concurrency,
            )
            result = spawn("--child", str(path))
        row = {
            "executor": executor,
            "workers": actors,
            "concurrency": concurrency,
            **result,
            "requests": server.requests,
            "peak_in_flight": server.peak_in_flight,
            "serving_s": round(server.serving_s, 3),
            # From the first request's arrival to the last answer: the pool at work, without
            # the actors' start-up or the driver's preparation.
            "items_per_s_serving": round(count / server.serving_s, 3),
            # The run's batches: under Ray the Ray Data jobs, actor start-up included.
            "items_per_s": round(count / result["batches_s"], 3),
            # The whole `cascade run`, metrics and reports included (Ray's start-up is not).
            "items_per_s_run": round(count / result["run_s"], 3),
        }
        rows.append(row)
        print(
            f"{executor:6} workers {actors} x concurrency {concurrency}: serving "
            f"{row['serving_s']:6.2f} s = {row['items_per_s_serving']:5.2f} items/s; batches "
            f"{row['batches_s']:6.2f} s = {row['items_per_s']:5.2f} items/s; whole run "
            f"{row['run_s']:6.2f} s = {row['items_per_s_run']:5.2f} items/s"
            + (f" (+ Ray start-up {row['ray_start_s']:.1f} s)" if executor == "ray" else "")
            + f"; {server.requests} requests, at most {server.peak_in_flight} in flight; "
            f"errors {row['errors']}"
        )
    figures: dict[str, Any] = {"items": count, "delay_s": DELAY_S, "runs": rows}
    ray_rows = {r["workers"]: r for r in rows if r["executor"] == "ray"}
    if ray_rows:
        for key, rate in (
            ("efficiency_serving", "items_per_s_serving"),
            ("efficiency", "items_per_s"),
            ("efficiency_run", "items_per_s_run"),
        ):
            one = ray_rows[1][rate]
            figures[key] = {str(n): ratio(ray_rows[n][rate], n * one) for n in WORKERS if n > 1}
        figures["target_efficiency"] = 0.8
    return figures


MODES = {
    "warm": "every front-end output and answer in the cache",
    "answers": "front-end outputs in the cache, answers computed (a reasoner pool under Ray)",
}


def overhead(folder: Path, repeats: int, executors: list[str]) -> dict[str, Any]:
    cache = folder / "cache"
    warm = spawn("--child", str(demo_config(folder, "warm", cache, executor="local")))
    print(
        f"warming the cache (local, 32 demo items, signal + scripted): {warm['process_s']:.1f} s "
        f"(stages computed {warm['stages_computed']})"
    )
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        mode: {e: [] for e in executors} for mode in MODES
    }
    for repeat in range(repeats):
        for mode in MODES:
            for executor in executors:
                name = f"{mode}-{executor}-{repeat}"
                path = demo_config(
                    folder, name, cache, executor=executor, fresh_answers=mode == "answers"
                )
                result = spawn("--child", str(path))
                runs[mode][executor].append(result)
                print(
                    f"{mode:8}{executor:6} #{repeat + 1}: run {result['run_s']:6.2f} s"
                    + (
                        f" + Ray start-up {result['ray_start_s']:5.2f} s"
                        if executor == "ray"
                        else ""
                    )
                    + f"; process {result['process_s']:6.2f} s (stages computed "
                    f"{result['stages_computed']}, re-used {result['stages_reused']}; answers "
                    f"computed {result['answers_computed']}, re-used {result['answers_reused']})"
                )
    figures: dict[str, Any] = {"items": warm["items"], "repeats": repeats, "warming": warm}
    for mode, by_executor in runs.items():
        table: dict[str, Any] = {"what": MODES[mode]}
        for executor, results in by_executor.items():
            table[executor] = {
                "runs": results,
                "median_run_s": round(statistics.median(r["run_s"] for r in results), 3),
                "median_start_and_run_s": round(
                    statistics.median(r["ray_start_s"] + r["run_s"] for r in results), 3
                ),
                "median_ray_start_s": round(
                    statistics.median(r["ray_start_s"] for r in results), 3
                ),
                "median_process_s": round(statistics.median(r["process_s"] for r in results), 3),
            }
        if "ray" in by_executor:
            local, ray = table["local"], table["ray"]
            table["ratio_ray_over_local"] = ratio(
                ray["median_start_and_run_s"], local["median_run_s"]
            )
            table["ratio_ray_without_start_over_local"] = ratio(
                ray["median_run_s"], local["median_run_s"]
            )
            table["ratio_process_ray_over_local"] = ratio(
                ray["median_process_s"], local["median_process_s"]
            )
        figures[mode] = table
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="48 items, 2 repeats")
    parser.add_argument("--local-only", action="store_true", help="the local executor only")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    started = time.perf_counter()
    count, repeats = (48, 2) if args.quick else (256, 3)
    executors = ["local"] if args.local_only else ["local", "ray"]
    info = machine()
    header(
        "Ray executor: reasoner scaling and overhead",
        f"throughput: {count} demo items repeated under new ids, no front-end, reasoner `openai` "
        f"against a local server answering after {DELAY_S} s, concurrency 1 per worker, "
        f"Ray workers {list(WORKERS)} ({ACTOR_CPUS} CPU each, {BATCH} items per call), fresh "
        f"cache per run; overhead: the demo (32 items), front-end signal, scripted reasoner, "
        f"front-end cache warm (answers cached too, or computed again), {repeats} runs per "
        "executor and mode; one process per run",
        info,
    )
    with scratch("ray") as folder:
        print("-- throughput")
        scaling = throughput(folder / "throughput", count, executors)
        print("\n-- overhead on a warm cache")
        warm = overhead(folder / "overhead", repeats, executors)
    figures = {"throughput": scaling, "overhead": warm}
    print()
    if "efficiency" in scaling:
        rates = (
            ("serving", "items_per_s_serving", "efficiency_serving"),
            ("batches", "items_per_s", "efficiency"),
            ("whole run", "items_per_s_run", "efficiency_run"),
        )
        print(
            f"{'Ray workers':<12}"
            + "".join(f"{title + ' items/s (eff.)':>28}" for title, _, _ in rates)
        )
        for row in scaling["runs"]:
            if row["executor"] != "ray":
                continue
            cells = []
            for _, rate, key in rates:
                eff = scaling[key].get(str(row["workers"]))
                cells.append(f"{row[rate]:.2f}" + ("" if eff is None else f" ({eff:.2f})"))
            print(f"{row['workers']:<12}" + "".join(f"{c:>28}" for c in cells))
        print(
            "serving: the server's first request to its last answer; batches: the run's batches "
            "(Ray Data jobs, actor start-up included); whole run: `cascade run` with metrics and "
            "reports, Ray's start-up excluded. Efficiency = throughput(N) / (N x throughput(1)), "
            "target >= 0.8"
        )
    for row in scaling["runs"]:
        if row["executor"] == "local":
            print(
                f"local executor, concurrency {row['concurrency']}: serving "
                f"{row['items_per_s_serving']:.2f}, batches {row['items_per_s']:.2f}, whole run "
                f"{row['items_per_s_run']:.2f} items/s"
            )
    for mode in MODES:
        table = warm[mode]
        local = table["local"]
        if "ray" not in table:
            print(f"demo, {MODES[mode]}: local {local['median_run_s']:.2f} s (median run)")
            continue
        ray = table["ray"]
        print(
            f"demo, {MODES[mode]} (median of {warm['repeats']}): local "
            f"{local['median_run_s']:.2f} s; ray {ray['median_run_s']:.2f} s + Ray start-up "
            f"{ray['median_ray_start_s']:.2f} s; ray / local = "
            f"{table['ratio_ray_over_local']:.1f} with the start-up, "
            f"{table['ratio_ray_without_start_over_local']:.1f} without; whole processes "
            f"{ray['median_process_s']:.1f} s / {local['median_process_s']:.1f} s = "
            f"{table['ratio_process_ray_over_local']:.1f}"
        )
    write_results(
        "ray-scaling" if executors == ["local", "ray"] else "ray-scaling-local",
        figures,
        info,
        quick=args.quick,
    )
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
