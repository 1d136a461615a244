"""Resume: a run killed (SIGKILL) at about half way and run again, against an uninterrupted run.

Both are `cascade run --config FILE` processes on their own fresh cache and run directory, over
the demo audio repeated under new ids. The front-end is the scripted captioner (it decodes every
clip) and the reasoner the scripted one with a fixed delay per request, so that a batch takes a
known time and the run is slow enough to interrupt. The killed process is stopped once half of
the items have result lines; the same command then resumes it.

Lost work = (killed wall + resumed wall) - uninterrupted wall, also expressed in batches of
reasoning (batch size x delay). The resumed run's summary says how many items it kept and how
many answers it re-used from the cache. Target: at most one batch lost.

Run: python perf/resume.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, header, machine, repeated_demo, scratch, timed, write_results

from cascade.run import RunDir


def write_config(folder: Path, meta: tuple[Path, Path], batch_size: int, delay_s: float) -> Path:
    config = {
        "name": "resume-bench",
        "benchmark": {"name": "demo", "meta": str(meta[0]), "audio_root": str(meta[1])},
        "captioners": [{"name": "scripted", "config": {"template": "clip {item_id}"}}],
        "reasoner": {"name": "scripted", "runtime": {"delay_s": delay_s}},
        "run": {"run_dir": str(folder / "run"), "batch_size": batch_size},
        "cache_dir": str(folder / "cache"),
    }
    path = folder / "config.yaml"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def command(config: Path) -> list[str]:
    return [sys.executable, "-m", "cascade.cli", "run", "--config", str(config)]


def result_lines(run_dir: Path) -> int:
    try:
        return RunDir(run_dir).results_path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def complete_run(config: Path, limit_s: float) -> float:
    with timed() as wall:
        done = subprocess.run(command(config), capture_output=True, cwd=ROOT, timeout=limit_s)
    if done.returncode != 0:
        raise RuntimeError(f"{config}: exit {done.returncode}\n{done.stderr.decode()[-2000:]}")
    return wall.seconds


def killed_run(config: Path, run_dir: Path, at_items: int, limit_s: float) -> dict[str, Any]:
    """Start the run, SIGKILL its process group once `at_items` result lines exist."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command(config),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while result_lines(run_dir) < at_items:
            if process.poll() is not None:
                raise RuntimeError(f"the run ended ({process.returncode}) before being killed")
            if time.perf_counter() - started > limit_s:
                raise RuntimeError(f"no {at_items} result lines after {limit_s} s")
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    answers = run_dir.parent / "cache" / "reasoners"
    return {
        "wall_s": round(time.perf_counter() - started, 3),
        "result_lines_at_kill": result_lines(run_dir),
        "answers_cached_at_kill": sum(1 for _ in answers.glob("*/*/*.json")),
        "returncode": process.returncode,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="32 items instead of 64")
    args = parser.parse_args()
    items, batch_size, delay_s = (32, 4, 0.2) if args.quick else (64, 8, 0.2)
    batch_s = batch_size * delay_s
    info = machine()
    header(
        "resume",
        f"{items} items (demo audio repeated, a gain per item makes each clip distinct), "
        f"scripted captioner, scripted reasoner sleeping {delay_s} s per request, batch size "
        f"{batch_size} ({batch_s:.1f} s of reasoning per batch), each run a `cascade run` "
        "process on a fresh cache; SIGKILL at half way",
        info,
    )
    limit_s = 600.0
    with scratch("resume") as folder:
        # Audio of its own per item: every prompt differs, so no answer is shared between items.
        meta = repeated_demo(folder, items, unique_audio=True)
        plain, broken = folder / "plain", folder / "broken"
        plain.mkdir()
        broken.mkdir()
        plain_config = write_config(plain, meta, batch_size, delay_s)
        broken_config = write_config(broken, meta, batch_size, delay_s)
        uninterrupted = complete_run(plain_config, limit_s)
        killed = killed_run(broken_config, broken / "run", items // 2, limit_s)
        resumed = complete_run(broken_config, limit_s)
        summary = RunDir(broken / "run").summary()
        # A third invocation finds every item finished: what a process costs by itself
        # (start-up, imports, loading the run, metrics and reports).
        fixed = complete_run(broken_config, limit_s)
        final_lines = len(RunDir(broken / "run").results())
    interrupted = killed["wall_s"] + resumed
    lost = interrupted - uninterrupted
    lost_net = lost - fixed
    figures: dict[str, Any] = {
        "items": items,
        "batch_size": batch_size,
        "delay_s_per_request": delay_s,
        "batch_reasoning_s": batch_s,
        "uninterrupted_s": round(uninterrupted, 3),
        "killed": killed,
        "resumed_s": round(resumed, 3),
        "killed_plus_resumed_s": round(interrupted, 3),
        "ratio_interrupted_over_uninterrupted": round(interrupted / uninterrupted, 3),
        "lost_s": round(lost, 3),
        "lost_batches": round(lost / batch_s, 2),
        "process_fixed_cost_s": round(fixed, 3),
        "lost_s_without_second_start": round(lost_net, 3),
        "lost_batches_without_second_start": round(lost_net / batch_s, 2),
        "resumed_run_summary": {
            "resumed_items": summary["resumed"],
            "processed_items": summary["processed"],
            "answers_computed": summary["reasoner"]["computed"],
            "answers_reused": summary["reasoner"]["reused"],
        },
        "items_with_a_result_at_the_end": final_lines,
        "requests_generated_twice": killed["answers_cached_at_kill"]
        + summary["reasoner"]["computed"]
        - items,
        "target_lost_batches": 1,
    }
    s = figures["resumed_run_summary"]
    print(f"uninterrupted run:               {uninterrupted:7.2f} s")
    print(
        f"killed at {killed['result_lines_at_kill']}/{items} result lines:   "
        f"{killed['wall_s']:7.2f} s"
    )
    print(
        f"resumed run:                     {resumed:7.2f} s  (kept {s['resumed_items']} items, "
        f"computed {s['processed_items']}; answers re-used from the cache {s['answers_reused']})"
    )
    print(
        f"killed + resumed / uninterrupted: {figures['ratio_interrupted_over_uninterrupted']:.3f}"
    )
    print(
        f"lost work: {lost:.2f} s = {figures['lost_batches']:.2f} batches of {batch_s:.1f} s "
        "(target <= 1; includes the second process start-up)"
    )
    print(
        f"answers cached by the killed run {killed['answers_cached_at_kill']}, generated by the "
        f"resumed run {s['answers_computed']}: requests generated twice "
        f"{figures['requests_generated_twice']} (the batch in flight at the kill is not counted)"
    )
    print(
        f"a process by itself (re-run of a finished run): {fixed:.2f} s; lost work without it: "
        f"{lost_net:.2f} s = {figures['lost_batches_without_second_start']:.2f} batches"
    )
    write_results("resume", figures, info, quick=args.quick)


if __name__ == "__main__":
    main()
