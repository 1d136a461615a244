"""Re-use: a second run with another reasoner, and re-scores, against the first full run.

1. Demo benchmark, one process, fresh cache, models loaded beforehand by a warm-up run on another
   cache (loading is reported, left out of the ratios):
   - run 1: front-end (whisper + audioset + signal) and reasoner A (SmolLM2-135M on vLLM CPU);
   - run 2: same front-end, reasoner B (SmolLM2 with another token budget, 256: another
     reasoner identity, so every answer is generated again, on the same engine): every front-end
     output must come from the cache, so it spends ~0 s in the front-end;
   - re-score of run 1 (everything cached, no model): in-process (`rescore.load` +
     `compute_metrics`) and `cascade score RUN` end to end (a new process, imports included).
2. MMAR, all 1000 items of the shipped meta with synthetic predictions in the official format
   (a seeded random option text per item, a few unparseable answers): re-score with every scorer
   and all statistics, in-process and through the CLI. Target: under 2 s.

Run: python perf/reuse.py [--quick] [--mmar-only]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

from common import (
    MMAR_META,
    ROOT,
    header,
    machine,
    preset,
    ratio,
    run_config,
    scratch,
    timed,
    write_results,
)

REPEATS = 3


def run(folder: Path, pool: Any, name: str, reasoner: dict[str, Any], limit: int | None) -> Any:
    from cascade import commands

    config = run_config(
        folder, name=name, reasoner=reasoner, limit=limit, batch_size=8, cache=folder / "cache"
    )
    with timed() as whole:
        summary = commands.run(config, pool=pool)
    stats = summary.to_json()
    return {
        "run_dir": stats["run_dir"],
        "items": summary.total,
        "execute_s": round(whole.seconds, 3),
        "frontend_model_s": stats["stages"]["model_seconds"],
        "reasoner_model_s": stats["reasoner"]["model_seconds"],
        "stages_computed": stats["stages"]["computed"],
        "stages_reused": stats["stages"]["reused"],
        "answers_computed": stats["reasoner"]["computed"],
        "answers_reused": stats["reasoner"]["reused"],
    }


def rescore_in_process(path: Path, ci: Literal["wilson", "bootstrap"] = "wilson") -> dict[str, Any]:
    """Median of REPEATS timings of `rescore.load` + `compute_metrics` (imports done before)."""
    from cascade.run import rescore
    from cascade.scoring import ScoringSpec, compute_metrics

    spec = ScoringSpec(ci_method=ci)
    loads, scores = [], []
    for _ in range(REPEATS):
        with timed() as load:
            scorable = rescore.load(path)
        with timed() as score:
            metrics = compute_metrics(
                scorable.items, scorable.results, spec, benchmark=scorable.benchmark
            )
        loads.append(load.seconds)
        scores.append(score.seconds)
    groups = sum(
        len(values) for by in metrics["scorers"].values() for values in by["by"].values()
    ) + len(metrics["scorers"])
    return {
        "items": metrics["n_items"],
        "groups_with_statistics": groups,
        "ci": ci,
        "load_s": round(statistics.median(loads), 4),
        "metrics_s": round(statistics.median(scores), 4),
        "total_s": round(statistics.median(a + b for a, b in zip(loads, scores, strict=True)), 4),
    }


def rescore_cli(path: Path, expected: tuple[int, ...] = (0,)) -> dict[str, Any]:
    """Median wall time of `cascade score PATH` in a new process (interpreter start included).

    `expected`: the exit codes that mean the scoring was done (README "Exit codes": 3 is a
    finished score of a run or file with failed items); any other code stops the script with
    what the command printed."""
    times = []
    for _ in range(REPEATS):
        with timed() as wall:
            done = subprocess.run(
                [sys.executable, "-m", "cascade.cli", "score", str(path)],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=120,
            )
        if done.returncode not in expected:
            raise SystemExit(
                f"cascade score {path} exited {done.returncode} (expected {expected}):\n"
                f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        times.append(wall.seconds)
    return {
        "median_s": round(statistics.median(times), 3),
        "runs_s": [round(t, 3) for t in times],
        "exit_code": done.returncode,
    }


def import_seconds() -> float:
    """What the imports of re-scoring cost in a fresh interpreter."""
    code = (
        "import time; t = time.perf_counter(); "
        "from cascade.run import rescore; from cascade.scoring.metrics import compute_metrics; "
        "print(time.perf_counter() - t)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return round(float(out.stdout.strip()), 3)


def synthetic_mmar(path: Path) -> int:
    """MMAR's 1000 items with a prediction each, in the official format (seeded)."""
    rng = random.Random(0)
    rows = [json.loads(line) for line in MMAR_META.read_text(encoding="utf-8").splitlines()]
    for index, row in enumerate(rows):
        if index % 50 == 0:
            row["answer_prediction"] = "I cannot tell from the description."
        else:
            right = rng.random() < 0.45
            # A few MMAR items list an empty choice; a prediction is never empty (an empty one
            # is a failed item, and `cascade score` then exits 3, as documented).
            options = [c for c in row["choices"] if c.strip()]
            row["answer_prediction"] = row["answer"] if right else rng.choice(options)
        row["thinking_prediction"] = "The description mentions the cue; so the answer follows."
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    return len(rows)


def demo_part(folder: Path, limit: int | None) -> dict[str, Any]:
    from cascade.reasoners.vllm_offline import shutdown_engine

    from cascade.run import ComponentPool

    reasoner_a = preset("smollm2")
    # Another reasoner identity (its own cache namespace entries: every answer is generated
    # again) on the same engine, so that nothing is loaded between the runs.
    reasoner_b = preset("smollm2", config={"max_tokens": 256})
    with ComponentPool() as pool:
        try:
            with timed() as loading:
                run(folder / "warm", pool, "warm", reasoner_a, 2)
            print(f"loading (warm-up run of 2 items, excluded): {loading.seconds:.1f} s")
            first = run(folder / "main", pool, "first", reasoner_a, limit)
            second = run(folder / "main", pool, "second", reasoner_b, limit)
        finally:
            pool.close()
            shutdown_engine()
    run_dir = Path(first["run_dir"])
    in_process = rescore_in_process(run_dir)
    # A demo item the model failed on is written and scored as such (exit 3): still a re-score.
    cli = rescore_cli(run_dir, expected=(0, 3))
    return {
        "loading_s_excluded": round(loading.seconds, 3),
        "first_run": first,
        "second_run_other_reasoner": second,
        "second_frontend_fraction_of_first": ratio(
            second["frontend_model_s"], first["frontend_model_s"]
        ),
        "second_over_first_wall": ratio(second["execute_s"], first["execute_s"]),
        "rescore_in_process": in_process,
        "rescore_cli": cli,
        "rescore_over_first_wall": ratio(cli["median_s"], first["execute_s"]),
    }


def mmar_part(folder: Path) -> dict[str, Any]:
    path = folder / "mmar-predictions.json"
    items = synthetic_mmar(path)
    return {
        "items": items,
        "import_s": import_seconds(),
        "wilson": rescore_in_process(path, "wilson"),
        "bootstrap": rescore_in_process(path, "bootstrap"),
        "cli": rescore_cli(path),
        "target_s": 2.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 demo items instead of 32")
    parser.add_argument("--mmar-only", action="store_true", help="only the 1000-item re-score")
    args = parser.parse_args()
    limit = 8 if args.quick else None
    info = machine()
    header(
        "re-use",
        "demo: run 1 front-end whisper + audioset + signal, reasoner smollm2 (vLLM CPU, "
        "max_tokens 512); run 2 the same front-end, reasoner smollm2 with max_tokens 256 (another "
        "identity, same engine); batch size 8; re-score of run 1. "
        f"MMAR: 1000 synthetic predictions re-scored (median of {REPEATS}).",
        info,
    )
    figures: dict[str, Any] = {}
    with scratch("reuse") as folder:
        if not args.mmar_only:
            demo = figures["demo"] = demo_part(folder, limit)
            first, second = demo["first_run"], demo["second_run_other_reasoner"]
            print(f"\n{'':24}{'run 1':>10}{'run 2':>10}")
            for key in ("execute_s", "frontend_model_s", "reasoner_model_s"):
                print(f"{key:24}{first[key]:>10.2f}{second[key]:>10.2f}")
            for key in ("stages_computed", "stages_reused"):
                print(f"{key:24}{first[key]:>10}{second[key]:>10}")
            print(
                f"run 2 front-end time / run 1: {demo['second_frontend_fraction_of_first']:.4f} "
                f"(target ~0); run 2 wall / run 1: {demo['second_over_first_wall']:.2f}"
            )
            print(
                f"re-score of run 1: {demo['rescore_in_process']['total_s']:.3f} s in-process, "
                f"{demo['rescore_cli']['median_s']:.2f} s CLI; "
                f"CLI / run 1 wall: {demo['rescore_over_first_wall']:.4f}"
            )
        mmar = figures["mmar_rescore"] = mmar_part(folder)
    print(
        f"\nMMAR {mmar['items']} items, every scorer and statistic "
        f"({mmar['wilson']['groups_with_statistics']} groups):"
    )
    print(f"  imports (fresh interpreter)       {mmar['import_s']:.2f} s")
    for ci in ("wilson", "bootstrap"):
        row = mmar[ci]
        print(
            f"  in-process, {ci:9} intervals   {row['total_s']:.3f} s "
            f"(load {row['load_s']:.3f} + metrics {row['metrics_s']:.3f})"
        )
    print(f"  cascade score FILE, end to end    {mmar['cli']['median_s']:.2f} s (target < 2 s)")
    write_results("reuse", figures, info, quick=args.quick)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - started:.0f} s")
