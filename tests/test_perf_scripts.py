"""Every speed script in perf/ runs in its `--quick` mode, so that a figure in the README can
always be measured again (a script that broke unnoticed is how issue 16's item 10 was found).

The scripts are found by globbing the folder: a new script is run here without being listed. Those
that load real models (vLLM, Whisper, YAMNet) or start Ray clusters take minutes and are in the
slow suite (`pytest -m slow`, which CI runs); the others take seconds and run in the quick suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PERF = Path(__file__).resolve().parent.parent / "perf"
HELPERS = {"common.py"}
"""Modules the scripts import, not scripts."""
SLOW = {
    "batching.py": "vLLM offline and served, transformers, the real front-end",
    "overhead.py": "the embedded default's models (Whisper, YAMNet, SmolLM2 on vLLM)",
    "reuse.py": "two demo runs with SmolLM2 on vLLM",
    "scaling.py": "the real front-end primes the cache",
    "ray_scaling.py": "a local Ray cluster per run",
}
"""Scripts that need real models or Ray, and why; every other script runs in the quick suite."""

SCRIPTS = sorted(p.name for p in PERF.glob("*.py") if p.name not in HELPERS)
QUICK_RUNS = [
    pytest.param([name, "--quick"], id=name, marks=[pytest.mark.slow] if name in SLOW else [])
    for name in SCRIPTS
] + [
    # The model-free part of reuse.py (the 1000-item MMAR re-score that item 10 found broken).
    pytest.param(["reuse.py", "--quick", "--mmar-only"], id="reuse.py-mmar-only"),
]


def test_every_script_is_a_script_with_a_quick_mode() -> None:
    assert set(SLOW) <= set(SCRIPTS), "SLOW names a script that is gone"
    for name in SCRIPTS:
        source = (PERF / name).read_text()
        assert 'if __name__ == "__main__":' in source, name
        assert '"--quick"' in source, f"perf/{name} has no --quick mode"


@pytest.mark.timeout(3600)
@pytest.mark.parametrize("command", QUICK_RUNS)
def test_a_perf_script_runs_in_quick_mode(command: list[str], tmp_path: Path) -> None:
    env = os.environ | {
        "CASCADE_PERF_RESULTS": str(tmp_path),
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PERF.parent), os.environ.get("PYTHONPATH")])
        ),
    }
    done = subprocess.run(
        [sys.executable, str(PERF / command[0]), *command[1:]],
        capture_output=True,
        text=True,
        cwd=PERF.parent,
        env=env,
        timeout=3000,
    )
    assert done.returncode == 0, (
        f"{' '.join(command)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )
    (written,) = tmp_path.glob("*-quick.json")
    body = json.loads(written.read_text())
    assert body["figures"], written
    assert "--quick" in body["command"]
