"""Executors are named strategies behind one lifecycle of a run: one registered from outside
cascade (tests/executor_package.py, by the entry point of a package installed on the spot, as
a user's package registers it) runs through the CLI by its name alone and writes the run
directory the local executor writes; a name nothing registered is a clear error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cascade.cli import app
from cascade.core import ExitCode, RegistryError, registry
from cascade.core.registry import GROUPS
from cascade.run import RunConfig
from tests import executor_package
from tests.conftest import ITEMS, MakeConfig
from tests.executor_package import NAME
from tests.plugin_dist import write_distribution
from tests.test_ray_executor import result_lines

runner = CliRunner()


@pytest.fixture
def registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The package `one-at-a-time` installed (on sys.path) with its executor's entry point;
    the registry reads the entry points again, and forgets them after the test."""
    target = f"{executor_package.__name__}:OneAtATime"
    site = write_distribution(
        tmp_path / "site", "one-at-a-time", "0.1", {GROUPS["executor"]: {NAME: target}}
    )
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(registry.TABLES, "executor", dict(registry.TABLES["executor"]))
    monkeypatch.setattr(registry, "_read", set())
    executor_package.COMPUTED.clear()
    yield NAME


def write(config: RunConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return path


def test_an_executor_registered_from_outside_runs_a_run_by_its_name(
    registered: str, make_config: MakeConfig, tmp_path: Path
) -> None:
    local = make_config(run={"run_dir": str(tmp_path / "local")})
    done = runner.invoke(app, ["run", "--config", str(write(local, tmp_path / "local.yaml"))])
    assert done.exit_code == ExitCode.OK, done.output

    theirs = make_config(cache_dir=str(tmp_path / "their-cache"))
    path = write(theirs, tmp_path / "theirs.yaml")
    run_dir = tmp_path / "theirs"
    args = ["run", "--config", str(path), "--run-dir", str(run_dir)]
    planned = runner.invoke(app, [*args, "--set", f"run.executor={registered}", "--dry-run"])
    assert planned.exit_code == ExitCode.OK, planned.output
    assert registered in planned.output and "sequential" in planned.output

    done = runner.invoke(app, [*args, "--set", f"run.executor={registered}"])
    assert done.exit_code == ExitCode.OK, done.output
    ids = [i[0] for i in ITEMS]
    assert ids == executor_package.COMPUTED  # it did the work, item by item
    assert result_lines(run_dir) == result_lines(tmp_path / "local")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["processed"] == len(ITEMS) and summary["unanswered"] == 0
    assert summary["stages"]["computed"] == len(ITEMS)

    executor_package.COMPUTED.clear()  # resumed: nothing is left to compute
    again = runner.invoke(app, [*args, "--set", f"run.executor={registered}"])
    assert again.exit_code == ExitCode.OK, again.output
    assert executor_package.COMPUTED == []


def test_cascade_list_shows_the_registered_executors(registered: str) -> None:
    listed = runner.invoke(app, ["list"])
    assert listed.exit_code == ExitCode.OK, listed.output
    assert "executors" in listed.output
    assert all(name in listed.output for name in ("local", "ray", registered))


def test_a_name_registered_to_another_object_is_refused(registered: str) -> None:
    with pytest.raises(RegistryError, match="registered already"):
        registry.register("executor", registered, "elsewhere:Other", "another")
    # the same registration again changes nothing
    registry.register("executor", registered, f"{executor_package.__name__}:OneAtATime", "again")


def test_an_unregistered_executor_is_a_config_error_naming_the_close_one(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    path = write(make_config(), tmp_path / "run.yaml")
    done = runner.invoke(app, ["run", "--config", str(path), "--set", "run.executor=rayy"])
    assert done.exit_code == ExitCode.ERROR, done.output
    assert "run.executor: no executor named 'rayy'. Did you mean 'ray'?" in done.output
    assert "Traceback" not in done.output


def test_the_judge_refuses_an_unregistered_executor_as_a_usage_error(tmp_path: Path) -> None:
    done = runner.invoke(app, ["judge", str(tmp_path), "--judge", "x", "--executor", "nope"])
    assert done.exit_code == ExitCode.USAGE, done.output
    assert "no executor named 'nope'" in done.output
