"""The shipped demo sweep with the real CPU models (whisper, audioset, signal, SmolLM2) on a few
items: every variation in the table, no front-end for the text-only and oracle runs, and a second
run that computes nothing. Uses the default cache, where the bundled models live."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cascade import commands
from cascade.analysis import ablate
from cascade.core import MissingExtraError
from cascade.run import ComponentPool

LIMIT = 4


def run_demo(folder: Path) -> tuple[list[ablate.Outcome], ablate.SweepResults]:
    sweep = ablate.load_sweep("demo", overrides=(f"benchmark.limit={LIMIT}",), output=folder)
    with ComponentPool() as pool:
        outcomes = ablate.run_sweep(sweep, lambda v: commands.run(v.config, pool=pool).to_json())
    return outcomes, commands.finish_sweep(sweep, outcomes)


@pytest.mark.slow
def test_demo_sweep_on_cpu(tmp_path: Path) -> None:
    started = time.monotonic()
    try:
        first, results = run_demo(tmp_path / "sweep")
    except MissingExtraError as error:
        pytest.skip(str(error))
    took = time.monotonic() - started

    errors = {o.variation: o.error for o in first if o.error}
    assert errors == {}
    expected = {"base", "text-only", "oracle", "oracle-cues", "noise", "silence", "shuffled"}
    expected |= {
        f"{kind}-{stage}"
        for kind in ("drop", "only")
        for stage in ("whisper", "audioset", "signal")
    }
    expected |= {"truncate-20", "dropout-30", "asr-wer-30", "direct-answer"}
    assert set(results.table["variation"]) == expected
    summaries = {o.variation: o.summary for o in first}
    for variation in ("text-only", "oracle", "oracle-cues"):
        stages = summaries[variation]["stages"]
        assert stages["computed"] == stages["reused"] == 0, variation
    assert took < 15 * 60

    again, _ = run_demo(tmp_path / "sweep")
    for outcome in again:
        assert outcome.summary["resumed"] == LIMIT, outcome.variation
        assert outcome.summary["stages"]["computed"] == 0, outcome.variation
        assert outcome.summary["reasoner"]["computed"] == 0, outcome.variation
