"""Faults of bad input, each driven through the CLI: what a user (or a hostile one) hands cascade,
and what they must get back (one paragraph naming the file or item and the fix, the documented
exit code, no traceback unless --debug, nothing secret repeated, nothing silently shorter).

A suite that grows with every fault found; other areas keep theirs in tests/test_faults_<area>.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from cascade import commands
from cascade.cli import app
from cascade.core import ExitCode
from cascade.run import RunConfig
from tests.conftest import ITEMS, MakeConfig
from tests.ray_cluster import import_ray

runner = CliRunner()
LATIN1 = "name: caf\xe9\nreasoner:\n  name: scripted\n".encode("latin-1")


def write_config(config: RunConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    return path


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def one_paragraph(result: Result, code: int, *phrases: str) -> None:
    """The command failed with `code`, one paragraph holding every phrase, and no traceback."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.stderr.split())
    for phrase in phrases:
        assert phrase in text, text


# --- 1. config, preset, sweep and prompt files ------------------------------------------------


def sweep_file(tmp_path: Path, make_config: MakeConfig, **extra: Any) -> Path:
    base = make_config().model_dump(mode="json")
    base.pop("audio"), base.pop("description")
    data = {"name": "sw", "base": base, "output_dir": str(tmp_path / "sw"), "variations": {}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data | extra, sort_keys=False))
    return path


@pytest.mark.parametrize(
    "command", ["run", "run --dry-run", "describe", "ablate", "ablate-base", "preset", "prompt"]
)
def test_a_file_that_is_not_utf8_is_one_paragraph_naming_it(
    command: str, make_config: MakeConfig, tmp_path: Path
) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(LATIN1)
    config = write_config(make_config(), tmp_path / "run.yaml")
    args = {
        "run": ["run", "--config", str(bad)],
        "run --dry-run": ["run", "--config", str(bad), "--dry-run"],
        "describe": ["describe", str(tmp_path / "a.wav"), "--config", str(bad)],
        "ablate": ["ablate", str(bad)],
        "ablate-base": ["ablate", str(sweep_file(tmp_path, make_config, base=str(bad)))],
        "preset": ["run", "--config", str(config), "--reasoner", str(bad)],
        "prompt": ["run", "--config", str(config), "--set", f"prompts.answer={bad}"],
    }[command]
    result = invoke(*args)
    one_paragraph(result, ExitCode.ERROR, str(bad), "line 1: not UTF-8 text (byte 0xe9")
    assert not (tmp_path / "runs").exists()


def test_a_judge_prompt_that_is_not_utf8_is_one_paragraph(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    run_dir = commands.run(make_config()).run_dir
    bad = tmp_path / "judge_bad.yaml"
    bad.write_bytes(b"name: judge_bad\nsummary: \xff\n")
    result = invoke(
        "judge", str(run_dir), "--protocol", "ungated", "--judge", "scripted", "--prompt", str(bad)
    )
    one_paragraph(result, ExitCode.ERROR, f"prompt template {bad} line 2: not UTF-8 text")


def test_ungated_options_are_refused_under_mmar_rubrics(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    run_dir = commands.run(make_config()).run_dir
    result = invoke("judge", str(run_dir), "--prompt", "judge_rubric", "--samples", "3")
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "--samples and --prompt belong to --protocol ungated" in result.output


def test_a_config_with_a_byte_order_mark_is_read(make_config: MakeConfig, tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    text = yaml.safe_dump(make_config().model_dump(mode="json"))
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    result = invoke("run", "--config", str(path))
    assert result.exit_code == ExitCode.OK, result.output


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ("- a\n- b\n", ["expected a mapping of `key: value` lines at the top, found a list"]),
        ("just words\n", ["found a plain text"]),
        ("name: x\nreasoner: [scripted\nrun: {}\n", ["line 3 column 4: not valid YAML"]),
        ("name: x\n\treasoner: scripted\n", ["line 2 column 1: not valid YAML"]),
    ],
)
def test_a_config_that_is_not_a_yaml_mapping_is_one_paragraph(
    text: str, phrases: list[str], tmp_path: Path
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    for command in (["run", "--config"], ["ablate"]):
        one_paragraph(invoke(*command, str(path)), ExitCode.ERROR, str(path), *phrases)


# --- 5. a secret where the name of an environment variable belongs ----------------------------

KEYS = [
    "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv",
    "sk_live_51HqLyjWDarjtT1zdp7dcQ",
    "hf_AbCdEfGhIjKlMnOpQrStUvWxYz123456",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
    "github_pat_11ABCDEFG0123456789_abcdefghijk",
    "AIzaSyA1234567890abcdefghijklmnopqrs",
    "xoxb2345678901234abcdefgh",
    "glpat-Ab12Cd34Ef56Gh78Ij90",
    "AKIAIOSFODNN7EXAMPLE",
    "f3a9c2d4e5b6a7c8d9e0f1a2b3c4d5e6",  # a key without prefix or dash
    "abcdefghijABCDEFGHIJ0123456789xyz",
]


def openai_reasoner() -> dict[str, Any]:
    return {
        "name": "openai",
        "config": {"model": "test-model"},
        "runtime": {"base_url": "http://127.0.0.1:9/v1", "max_retries": 0},
    }


def nowhere(secret: str, result: Result, folder: Path) -> None:
    """The secret is in no output and in no file under `folder` (runs, logs, cache, configs)."""
    assert secret not in result.output
    for path in folder.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


@pytest.mark.parametrize("secret", KEYS)
def test_a_key_given_as_a_variable_name_is_refused_and_never_repeated(
    secret: str, make_config: MakeConfig, tmp_path: Path
) -> None:
    config = write_config(make_config(reasoner=openai_reasoner()), tmp_path / "run.yaml")
    for extra in ([], ["--dry-run"]):
        result = invoke(
            "run",
            "--config",
            str(config),
            "--set",
            f"reasoner.runtime.api_key_env={secret}",
            *extra,
        )
        one_paragraph(
            result,
            ExitCode.ERROR,
            "reasoner.runtime.api_key_env must be the NAME of an environment variable",
            "CASCADE_ALLOW_ENV_NAMES",
        )
        nowhere(secret, result, tmp_path)
    assert not (tmp_path / "runs").exists()


def test_a_key_in_a_config_file_or_any_env_key_of_any_command_is_refused(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    secret = KEYS[0]
    data = make_config(reasoner=openai_reasoner()).model_dump(mode="json")
    data["reasoner"]["runtime"]["api_key_env"] = secret
    in_file = tmp_path / "keyed.yaml"
    in_file.write_text(yaml.safe_dump(data))
    run_dir = commands.run(make_config()).run_dir
    cases = {
        "config file": ["run", "--config", str(in_file)],
        "describe": [
            "describe",
            str(tmp_path / "bench" / "audio" / "tone-440.wav"),
            "--captioner",
            "whisper",
            "--set",
            f"captioners.0.runtime.hf_token_env={secret}",
        ],
        "ablate": [
            "ablate",
            str(sweep_file(tmp_path, make_config, variations={"v": ["run.batch_size=1"]})),
            "--set",
            f"reasoner.runtime.api_key_env={secret}",
        ],
        "judge": [
            "judge",
            str(run_dir),
            "--judge",
            "gpt-4o",
            "--set",
            f"runtime.api_key_env={secret}",
        ],
        "cues": ["cues", str(run_dir), "--judge", "o3", "--set", f"runtime.api_key_env={secret}"],
    }
    for name, args in cases.items():
        result = invoke(*args)
        one_paragraph(result, ExitCode.ERROR, "must be the NAME of an environment variable")
        assert secret not in result.output, name
    nowhere(secret, invoke("run", "--config", str(in_file)), tmp_path / "runs")
    assert not (tmp_path / "sw").exists()


def test_a_refused_name_can_be_allowed(
    make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(make_config(reasoner=openai_reasoner()), tmp_path / "run.yaml")
    name = "abc123def456ghi789"  # looks like a key, but is the name of a variable here
    args = ["run", "--config", str(config), "--set", f"reasoner.runtime.api_key_env={name}"]
    assert invoke(*args, "--dry-run").exit_code == ExitCode.ERROR
    monkeypatch.setenv("CASCADE_ALLOW_ENV_NAMES", f"OTHER, {name}")
    result = invoke(*args, "--dry-run", "--json")
    assert result.exit_code == ExitCode.OK, result.output
    assert name in result.stdout


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "HF_TOKEN", "hf_token", "my_var1", "S3_KEY_V2"])
def test_ordinary_variable_names_pass(name: str, make_config: MakeConfig, tmp_path: Path) -> None:
    config = write_config(make_config(reasoner=openai_reasoner()), tmp_path / "run.yaml")
    result = invoke(
        "run", "--config", str(config), "--set", f"reasoner.runtime.api_key_env={name}", "--dry-run"
    )
    assert result.exit_code == ExitCode.OK, result.output


# --- 6. --debug adds a traceback and keeps the exit code --------------------------------------


def errors_for_all(**extra: Any) -> dict[str, Any]:
    return {"config": {"errors": {i[0]: "HTTP 500" for i in ITEMS}}, **extra}


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("ok", ExitCode.OK),
        ("config error", ExitCode.ERROR),
        ("storage error", ExitCode.ERROR),
        ("failed items", ExitCode.FAILED_ITEMS),
        ("failure rate", ExitCode.STOPPED),
        ("interrupt", ExitCode.STOPPED),
        ("score failed items", ExitCode.FAILED_ITEMS),
        ("ablate failed items", ExitCode.FAILED_ITEMS),
        ("ablate stopped", ExitCode.STOPPED),
    ],
)
def test_debug_keeps_the_documented_exit_code(
    case: str, code: int, make_config: MakeConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_failing = {"config": {"errors": {"mix-6": "HTTP 400: bad request"}}}
    config = {
        "ok": make_config(),
        "config error": make_config(),
        "storage error": make_config(cache_dir=str(tmp_path / "bench" / "meta.jsonl")),
        "failed items": make_config(reasoner=one_failing),
        "failure rate": make_config(
            reasoner=errors_for_all(), run={"min_items_for_failure_rate": 2}
        ),
        "interrupt": make_config(),
    }.get(case, make_config())
    path = write_config(config, tmp_path / "run.yaml")
    args = ["run", "--config", str(path)]
    if case == "config error":
        args += ["--set", "run.batch_size=0"]
    elif case == "interrupt":

        def interrupted(*args: Any, **kwargs: Any) -> Any:
            raise KeyboardInterrupt

        monkeypatch.setattr(commands, "run", interrupted)
    elif case == "score failed items":
        run_dir = commands.run(make_config(reasoner=one_failing)).run_dir
        args = ["score", str(run_dir)]
    elif case.startswith("ablate"):
        change = (
            ["reasoner.config.errors={mix-6: HTTP 500}"]
            if case == "ablate failed items"
            else [
                "reasoner.config.errors={" + ", ".join(f"{i[0]}: HTTP 500" for i in ITEMS) + "}",
                "run.min_items_for_failure_rate=2",
            ]
        )
        args = ["ablate", str(sweep_file(tmp_path, make_config, variations={"v": change}))]
    plain = invoke(*args)
    debug = invoke("--debug", *args)
    assert plain.exit_code == code, plain.output
    assert debug.exit_code == code, debug.output
    assert "Traceback" not in plain.output
    if case in ("config error", "storage error", "failed items", "failure rate", "interrupt"):
        assert "Traceback (most recent call last)" in debug.stderr
        # the same paragraph follows the traceback
        assert plain.stderr.strip().splitlines()[-1] in debug.stderr


# --- 7. a cache or run folder that cannot be written ------------------------------------------


@pytest.fixture
def read_only(tmp_path: Path) -> Iterator[Path]:
    """A read-only file system (a tmpfs mounted read-only): root passes permission checks, so
    only a real mount makes a folder that root cannot write to."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a read-only tmpfs needs root and mount(8)")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {made.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_cache_is_one_paragraph_before_any_item(
    read_only: Path, make_config: MakeConfig, tmp_path: Path
) -> None:
    path = write_config(make_config(cache_dir=str(read_only)), tmp_path / "run.yaml")
    result = invoke("run", "--config", str(path))
    one_paragraph(
        result,
        ExitCode.ERROR,
        f"the cache at {read_only} cannot be written (Read-only file system)",
        "CASCADE_CACHE",
    )
    assert "audio unreadable" not in result.output
    assert not list((tmp_path / "runs").glob("*/results.jsonl"))  # no item was attempted

    audio = str(tmp_path / "bench" / "audio" / "tone-440.wav")
    described = invoke("describe", audio, "--config", str(path))
    one_paragraph(described, ExitCode.ERROR, f"the cache at {read_only} cannot be written")


def test_a_read_only_cache_of_a_sweep_is_one_paragraph(
    read_only: Path, make_config: MakeConfig, tmp_path: Path
) -> None:
    sweep = sweep_file(tmp_path, make_config, variations={"v": ["run.batch_size=1"]})
    result = invoke("ablate", str(sweep), "--set", f"cache_dir={read_only}")
    assert result.exit_code != ExitCode.OK
    assert "Traceback" not in result.output
    assert f"the cache at {read_only} cannot be written" in " ".join(result.output.split())
    assert "audio unreadable" not in result.output


def test_a_read_only_run_folder_is_one_paragraph(
    read_only: Path, make_config: MakeConfig, tmp_path: Path
) -> None:
    path = write_config(
        make_config(run={"output_dir": str(read_only / "runs")}), tmp_path / "r.yaml"
    )
    one_paragraph(
        invoke("run", "--config", str(path)),
        ExitCode.ERROR,
        f"Read-only file system writing {read_only}",
        "on a writable disk",
    )


@pytest.mark.parametrize("where", ["cache", "cache parent", "runs", "run-dir"])
def test_a_file_where_a_folder_belongs_is_one_paragraph(
    where: str, make_config: MakeConfig, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    config = {
        "cache": make_config(cache_dir=str(blocker)),
        "cache parent": make_config(cache_dir=str(blocker / "cache")),
        "runs": make_config(run={"output_dir": str(blocker)}),
        "run-dir": make_config(run={"run_dir": str(blocker / "run")}),
    }[where]
    result = invoke("run", "--config", str(write_config(config, tmp_path / "r.yaml")))
    expected = (
        "a file is where the folder should be"
        if where.startswith("cache")
        else "a file stands where a folder of that path should be"
    )
    one_paragraph(result, ExitCode.ERROR, str(blocker), expected)


# --- 8. damaged files of a run directory -----------------------------------------------------


DAMAGE = {
    "cut off": lambda data: data[: len(data) // 2],
    "not UTF-8": lambda data: b"\xff\xfe" + data,
    "not a list": lambda data: b'{"items": []}\n',
    "empty": lambda data: b"",
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_score_rebuilds_a_damaged_predictions_file(
    damage: str, make_config: MakeConfig, tmp_path: Path
) -> None:
    run_dir = commands.run(make_config()).run_dir
    predictions = run_dir / "predictions.json"
    original = predictions.read_bytes()
    predictions.write_bytes(DAMAGE[damage](original))
    result = invoke("score", str(run_dir), "--json")
    assert result.exit_code == ExitCode.OK, result.output
    assert "predictions.json was damaged" in result.stderr
    assert "rebuilt from the run's results.jsonl" in " ".join(result.stderr.split())
    assert json.loads(result.stdout)["n_items"] == len(ITEMS)
    assert predictions.read_bytes() == original  # written again, as the run wrote it
    again = invoke("compare", str(run_dir), str(run_dir))
    # (the test's own folder name holds "damaged": look for the notice, not the word)
    assert again.exit_code == ExitCode.OK and "was damaged" not in again.output


def test_a_damaged_predictions_file_that_cannot_be_rebuilt_is_one_paragraph(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    run_dir = commands.run(make_config()).run_dir
    (run_dir / "predictions.json").write_text("[{")
    (tmp_path / "bench" / "meta.jsonl").unlink()
    one_paragraph(
        invoke("score", str(run_dir)),
        ExitCode.ERROR,
        "predictions.json is damaged",
        "cannot be rebuilt from results.jsonl: benchmark metadata not found",
    )


@pytest.mark.parametrize(
    ("name", "command", "phrases"),
    [
        ("summary.json", "score", ["summary.json line 2: not valid JSON", "run the run's command"]),
        ("summary.json", "compare", ["summary.json line 2: not valid JSON"]),
        ("metrics.json", "score --html", ["metrics.json line 2: not valid JSON"]),
        ("config.yaml", "score", ["config.yaml line 1 column", "not valid YAML", "--run-dir"]),
        ("config.yaml", "judge", ["config.yaml line 1 column", "not valid YAML"]),
        ("config.yaml", "run", ["config.yaml line 1 column", "not valid YAML"]),
    ],
)
def test_a_damaged_run_file_is_one_paragraph(
    name: str, command: str, phrases: list[str], make_config: MakeConfig, tmp_path: Path
) -> None:
    config = make_config()
    run_dir = commands.run(config).run_dir
    (run_dir / name).write_text("{: [\n" if name.endswith(".yaml") else '{"n_items": \n')
    args = {
        "score": ["score", str(run_dir)],
        "score --html": ["score", str(run_dir), "--html"],
        "compare": ["compare", str(run_dir), str(run_dir)],
        "judge": ["judge", str(run_dir), "--judge", "scripted"],
        "run": ["run", "--config", str(write_config(config, tmp_path / "run.yaml"))],
    }[command]
    one_paragraph(invoke(*args), ExitCode.ERROR, str(run_dir / name), *phrases)


# --- 9. audio, skipped items, the Ray cluster ------------------------------------------------


def test_a_cut_off_wav_fails_its_item_naming_it(make_config: MakeConfig, tmp_path: Path) -> None:
    clip = tmp_path / "bench" / "audio" / "music-mood.wav"
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 2])  # the header still promises the whole clip
    path = write_config(make_config(), tmp_path / "run.yaml")
    result = invoke("run", "--config", str(path))
    assert result.exit_code == ExitCode.FAILED_ITEMS, result.output
    assert "Traceback" not in result.output
    text = " ".join(result.output.split())
    assert "music-mood" in text and "audio file is cut off" in text
    assert "promises 0.50 s in its header but holds 0.25 s" in text
    (results,) = (tmp_path / "runs").glob("*/results.jsonl")
    lines = {r["id"]: r for r in map(json.loads, results.read_text().splitlines())}
    assert "cut off" in lines["music-mood"]["error"]
    assert all(lines[i[0]]["error"] is None for i in ITEMS if i[0] != "music-mood")


def test_items_skipped_for_missing_audio_are_listed_everywhere(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    (tmp_path / "bench" / "audio" / "tone-880.wav").unlink()
    path = write_config(make_config(), tmp_path / "run.yaml")
    refused = invoke("run", "--config", str(path))
    one_paragraph(refused, ExitCode.ERROR, "tone-880", "--skip-missing-audio", "summary.json")

    result = invoke("run", "--config", str(path), "--skip-missing-audio")
    assert result.exit_code == ExitCode.OK, result.output
    assert "1 items were left out before the run" in " ".join(result.stdout.split())
    assert "tone-880 (audio missing at" in " ".join(result.stdout.split())
    (written,) = (tmp_path / "runs").glob("*/summary.json")
    run_dir = written.parent
    summary = json.loads(written.read_text())
    assert list(summary["skipped"]) == ["tone-880"]
    page = (run_dir / "report.html").read_text()
    assert "tone-880 (audio missing at" in page


class NotRay:
    """A gRPC server that is not a Ray head: it accepts connections and answers, but serves no
    health check (as a proxy or another service on the port would)."""

    def __enter__(self) -> str:
        import grpc

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        return f"127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.stop(None)


def test_an_address_that_answers_but_is_no_ray_head_fails_at_once(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    import_ray()
    path = write_config(make_config(), tmp_path / "run.yaml")
    with NotRay() as address:
        result = invoke(
            "run",
            "--config",
            str(path),
            "--set",
            "run.executor=ray",
            "--set",
            f"run.ray_address={address}",
        )
    one_paragraph(result, ExitCode.ERROR, f"no Ray cluster answers at '{address}'")


def test_an_unroutable_ray_address_fails_within_10_seconds(
    make_config: MakeConfig, tmp_path: Path
) -> None:
    import_ray()
    path = write_config(make_config(), tmp_path / "run.yaml")
    address = "10.255.255.1:6379"
    command = [sys.executable, "-m", "cascade.cli", "run", "--config", str(path)]
    command += ["--set", "run.executor=ray", "--set", f"run.ray_address={address}"]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert done.returncode == ExitCode.ERROR, done.stderr
    assert f"no Ray cluster answers at '{address}'" in " ".join(done.stderr.split())
    assert "Traceback" not in done.stderr
    assert elapsed < 10, f"took {elapsed:.1f} s"
