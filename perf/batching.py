"""Batching: throughput of the batched path over the same work done one request (or clip) at a time.

Reasoners, all with the bundled SmolLM2-135M-Instruct (float32, greedy, a fixed token budget),
on the same chat requests (the demo questions in the `mcq_cot` prompt, with the item's reference
reasoning standing in as the description, so the prompts have realistic lengths):

- `vllm`: vLLM offline, one `LLM.chat` over every request vs one call per request;
- `server`: the `openai` reasoner against a real vLLM server on 127.0.0.1, at its concurrency
  vs concurrency 1;
- `transformers`: the transformers reasoner at its batch size vs batch size 1.

Prefix caching is off, so a later pass over the same prompts is not cheaper than the first. Each
path runs twice, alternating which goes first, and the faster pass of each is compared (load
from other work on a shared machine only adds time).
Throughput is compared in requests/s and in generated tokens/s (greedy outputs of a batch may
differ slightly in length from single ones). Engine start-up and model loading are excluded.

Front-end (`frontend`), on the demo clips already decoded: whisper, audioset and signal each given
every clip in one `describe` call vs one call per clip.

Target from the issue: batched reasoning at least 3x the one-at-a-time path on CPU.

Run: python perf/batching.py [--quick] [--parts vllm,server,transformers,frontend]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from common import (
    RESULTS,
    header,
    machine,
    ratio,
    scratch,
    timed,
    write_results,
)

PARTS = ("vllm", "server", "transformers", "frontend")
KV_CACHE_BYTES = 1 << 30
"""The KV cache of each vLLM engine, in bytes as in the smollm2 preset (a fraction of memory would
depend on how the machine reports its NUMA node)."""
CONCURRENCY = 8
ROUNDS = 2
"""Passes of each path, alternating which goes first; the fastest of each is reported."""
TRANSFORMERS_BATCH = 16
"""The smollm2-transformers preset's batch size (chosen by measurement: 16 beat 8 and 4)."""


def requests(count: int) -> list[Any]:
    """The demo questions as `mcq_cot` chat requests, the reference reasoning as description."""
    from cascade.core import BenchmarkSpec, prompts
    from cascade.run import plan, render_request

    items = plan.load_benchmark(BenchmarkSpec(name="demo"), need_audio=False).items
    template = prompts.load("mcq_cot")
    chosen = [items[i % len(items)] for i in range(count)]
    return [render_request(i, str(i.meta.get("thinking") or ""), template) for i in chosen]


def short_requests(count: int) -> list[Any]:
    """Short open-ended prompts (about 40 tokens): decode-bound, where batching pays most. Shown
    beside the demo prompts (several hundred tokens: prefill-bound on a CPU) to separate the two."""
    from cascade.core import ChatMessage, ChatRequest

    return [
        ChatRequest(f"short-{i}", (ChatMessage("user", f"Write a long story about cat {i}."),))
        for i in range(count)
    ]


def throughput(
    generate: Callable[[Sequence[Any]], list[Any]], batch: Sequence[Any]
) -> dict[str, Any]:
    with timed() as wall:
        responses = generate(batch)
    failed = [r.error for r in responses if not r.ok]
    if failed:
        raise RuntimeError(f"{len(failed)} requests failed, e.g. {failed[0]}")
    tokens = sum(r.completion_tokens or 0 for r in responses)
    return {
        "requests": len(responses),
        "wall_s": round(wall.seconds, 3),
        "completion_tokens": tokens,
        "requests_per_s": round(len(responses) / wall.seconds, 3),
        "tokens_per_s": round(tokens / wall.seconds, 2),
    }


def compare(
    name: str,
    batched_fn: Callable[[Sequence[Any]], list[Any]],
    single_fn: Callable[[Sequence[Any]], list[Any]],
    batch: Sequence[Any],
) -> dict[str, Any]:
    """Both paths ROUNDS times, alternating which goes first; the fastest pass of each counts
    (other work on a shared machine only ever adds time)."""
    passes: dict[str, list[dict[str, Any]]] = {"batched": [], "one_at_a_time": []}
    for index in range(ROUNDS):
        order = [("batched", batched_fn), ("one_at_a_time", single_fn)]
        for side, generate in order if index % 2 == 0 else order[::-1]:
            passes[side].append(throughput(generate, batch))
    batched = min(passes["batched"], key=lambda p: p["wall_s"])
    single = min(passes["one_at_a_time"], key=lambda p: p["wall_s"])
    row = {
        "batched": batched,
        "one_at_a_time": single,
        "all_passes_s": {k: [p["wall_s"] for p in v] for k, v in passes.items()},
        "speedup_requests": ratio(batched["requests_per_s"], single["requests_per_s"]),
        "speedup_tokens": ratio(batched["tokens_per_s"], single["tokens_per_s"]),
    }
    print(
        f"{name:34} batched {batched['wall_s']:7.1f} s ({batched['tokens_per_s']:6.1f} tok/s) | "
        f"one at a time {single['wall_s']:7.1f} s ({single['tokens_per_s']:6.1f} tok/s) | "
        f"x{row['speedup_requests']:.2f} requests/s, x{row['speedup_tokens']:.2f} tokens/s"
    )
    return row


def one_by_one(
    generate: Callable[[Sequence[Any]], list[Any]],
) -> Callable[[Sequence[Any]], list[Any]]:
    return lambda batch: [r for request in batch for r in generate([request])]


def vllm_part(batch: Sequence[Any], max_tokens: int) -> dict[str, Any]:
    from cascade.reasoners.bundled import resolve_model
    from cascade.reasoners.vllm_offline import VllmReasoner, shutdown_engine

    resolve_model("smollm2-135m-instruct")
    reasoner = VllmReasoner(
        {"model": "smollm2-135m-instruct", "temperature": 0.0, "max_tokens": max_tokens},
        {
            "enforce_eager": True,
            "dtype": "float32",
            "max_model_len": 4096,
            "kv_cache_bytes": KV_CACHE_BYTES,
            "max_num_seqs": max(len(batch), 1),
            "engine_kwargs": {"enable_prefix_caching": False},
        },
    )
    try:
        with timed() as loading:
            reasoner.generate(batch[:1])
        print(f"vLLM engine start-up (excluded): {loading.seconds:.1f} s")
        row = compare("vLLM offline", reasoner.generate, one_by_one(reasoner.generate), batch)
        short = compare(
            "vLLM offline, short prompts",
            reasoner.generate,
            one_by_one(reasoner.generate),
            short_requests(len(batch)),
        )
    finally:
        shutdown_engine()
    return {"startup_s_excluded": round(loading.seconds, 1), **row, "short_prompts": short}


def server_part(batch: Sequence[Any], max_tokens: int, folder: Path) -> dict[str, Any]:
    from cascade.reasoners.bundled import resolve_model
    from cascade.reasoners.openai_compat import OpenAIReasoner
    from cascade.reasoners.vllm_server import local_server

    model_dir = resolve_model("smollm2-135m-instruct")
    started = time.perf_counter()
    server = local_server(
        model_dir,
        folder / "server.log",
        served_name="smollm2",
        kv_cache_bytes=KV_CACHE_BYTES,
        extra_args=["--no-enable-prefix-caching", "--max-num-seqs", str(CONCURRENCY)],
        startup_limit_s=900,
    )
    with server as url:
        startup_s = time.perf_counter() - started
        print(f"vLLM server start-up (excluded): {startup_s:.1f} s")
        config = {"model": "smollm2", "temperature": 0.0, "max_tokens": max_tokens}
        runtime = {"base_url": url, "timeout_s": 600, "max_retries": 0}
        concurrent = OpenAIReasoner(config, {**runtime, "concurrency": CONCURRENCY})
        serial = OpenAIReasoner(config, {**runtime, "concurrency": 1})
        serial.generate(batch[:1])  # connection and first-request costs out of the figures
        name = f"OpenAI-compatible (vLLM server) c={CONCURRENCY}"
        row = compare(name, concurrent.generate, serial.generate, batch)
    return {"startup_s_excluded": round(startup_s, 1), "concurrency": CONCURRENCY, **row}


def transformers_part(batch: Sequence[Any], max_tokens: int) -> dict[str, Any]:
    from cascade.reasoners.transformers_lm import TransformersReasoner

    config = {"model": "smollm2-135m-instruct", "temperature": 0.0, "max_tokens": max_tokens}
    batched_lm = TransformersReasoner(config, {"device": "cpu", "batch_size": TRANSFORMERS_BATCH})
    single_lm = TransformersReasoner(config, {"device": "cpu", "batch_size": 1})
    with timed() as loading:
        batched_lm.generate(batch[:1])
        single_lm._loaded = batched_lm.load()  # the same weights: load once
    print(f"transformers loading (excluded): {loading.seconds:.1f} s")
    try:
        name = f"transformers batch {TRANSFORMERS_BATCH}"
        row = compare(name, batched_lm.generate, single_lm.generate, batch)
    finally:
        batched_lm.close()
        single_lm.close()
    return {"batch_size": TRANSFORMERS_BATCH, **row}


def frontend_part(count: int) -> dict[str, Any]:
    from cascade.core import BenchmarkSpec, Clip, StageInput
    from cascade.run import plan
    from cascade.run.config import validate

    items = plan.load_benchmark(BenchmarkSpec(name="demo", limit=count)).items
    # Only the front-end stages are built; a run config must still name a reasoner.
    config = validate(
        {"captioners": ["whisper", "audioset", "signal"], "reasoner": {"name": "scripted"}}
    )
    figures: dict[str, Any] = {"clips": len(items)}

    def inputs() -> list[StageInput]:
        clips = [Clip(i.audio) for i in items if i.audio is not None]
        for clip in clips:
            clip.channels  # noqa: B018  (decoded before timing, as the pipeline does)
        return [
            StageInput(i.id, c, i.question, i.choices) for i, c in zip(items, clips, strict=True)
        ]

    for stage in plan.build_stages(config):
        component = stage.component
        with timed() as loading:
            component.describe(inputs()[:1])
        times: dict[str, list[float]] = {"batched": [], "per_item": []}
        for index in range(ROUNDS):
            for side in ("batched", "per_item") if index % 2 == 0 else ("per_item", "batched"):
                batch = inputs()
                with timed() as wall:
                    if side == "batched":
                        component.describe(batch)
                    else:
                        for one in batch:
                            component.describe([one])
                times[side].append(round(wall.seconds, 3))
        component.close()
        batched, single = min(times["batched"]), min(times["per_item"])
        row = {
            "loading_s_excluded": round(loading.seconds, 2),
            "batched_s": batched,
            "per_item_calls_s": single,
            "all_passes_s": times,
            "speedup": ratio(single, batched),
        }
        figures[stage.label] = row
        print(
            f"front-end {stage.label:24} one call {batched:7.2f} s | one call per clip "
            f"{single:7.2f} s | x{row['speedup']:.2f}"
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 requests, 64 tokens, 6 clips")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"any of {','.join(PARTS)}")
    args = parser.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    count, max_tokens, clips = (8, 64, 6) if args.quick else (16, 96, 12)
    info = machine()
    header(
        "batching",
        f"{count} chat requests (demo questions, mcq_cot prompt), SmolLM2-135M-Instruct float32, "
        f"greedy, max_tokens {max_tokens}; front-end on {clips} demo clips; parts: {parts}",
        info,
    )
    batch = requests(count)
    previous: dict[str, Any] = {}
    saved = RESULTS / "batching.json"
    if saved.is_file() and set(parts) != set(PARTS):
        previous = json.loads(saved.read_text()).get("figures", {})
    figures: dict[str, Any] = {
        **previous,
        "requests": count,
        "max_tokens": max_tokens,
        "target_speedup": 3.0,
    }
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with scratch("batching") as folder:
        # One model in memory at a time: each part releases its engine before the next starts.
        for part in parts:
            if part == "vllm":
                figures["vllm_offline"] = vllm_part(batch, max_tokens)
            elif part == "server":
                figures["openai_server"] = server_part(batch, max_tokens, folder)
            elif part == "transformers":
                figures["transformers"] = transformers_part(batch, max_tokens)
            else:
                figures["frontend"] = frontend_part(clips)
            key = {"vllm": "vllm_offline", "server": "openai_server"}.get(part, part)
            figures[key]["measured_utc"] = stamp
            # After each part: a failure keeps the rest.
            write_results("batching", figures, info, quick=args.quick)


if __name__ == "__main__":
    main()
