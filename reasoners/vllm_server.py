"""A vLLM OpenAI-compatible server on 127.0.0.1, started and stopped around a block of work.

For tests and benchmarks of the `openai` reasoner against a real server, and for users who want a
local endpoint for a run: `with local_server(model_dir, log) as url: ...` gives the `/v1` base URL
once the server answers, and stops exactly the server's process group on exit.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path

from cascade.core import ComponentError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_server(
    model_dir: str,
    log: Path,
    *,
    served_name: str = "local",
    kv_cache_bytes: int = 512 * 2**20,
    max_model_len: int = 4096,
    extra_args: Sequence[str] = (),
    startup_limit_s: float = 600,
) -> Iterator[str]:
    """Serve `model_dir` (CPU-friendly: eager mode, float32), yielding its `/v1` base URL.

    `kv_cache_bytes` is the KV cache in absolute bytes (`--kv-cache-memory-bytes`), never a
    fraction of memory: on CPU a fraction is taken of the NUMA node's memory, which machines report
    differently. The server's output goes to `log`; its tail is in the error if it exits or is not
    ready in time.
    """
    port = free_port()
    command = [
        sys.executable, "-m", "vllm.entrypoints.openai.api_server",
        "--model", model_dir, "--served-model-name", served_name,
        "--host", "127.0.0.1", "--port", str(port),
        "--enforce-eager", "--dtype", "float32", "--max-model-len", str(max_model_len),
        "--kv-cache-memory-bytes", str(kv_cache_bytes), *extra_args,
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_ready(url, process, log, startup_limit_s)
        yield url
    finally:
        # The server was started in its own session: stop exactly its process group.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ComponentError(
                f"vLLM server exited ({process.returncode}):\n{log.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(1)
    raise ComponentError(f"vLLM server not ready after {limit_s} s:\n{log.read_text()[-3000:]}")
