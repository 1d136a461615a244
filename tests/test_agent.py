"""Agent runs (cascade.run.agent), through the CLI: the reasoner calls front-end components as
tools, every call a cached stage output, the trace in the results, bad behaviour of the model
recorded as data; native tool calling against a stand-in orchestrator server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from cascade.cli import app
from cascade.core import (
    ChatMessage,
    ChatRequest,
    ExitCode,
    Identity,
    reasoner_key,
    stage_key,
)
from cascade.run.config import resolve, validate
from tests.agent_server import OrchestratorServer
from tests.conftest import ITEMS, correct_letter, write_benchmark

runner = CliRunner()

ASR = {"name": "scripted", "config": {"kind": "asr", "template": "words of {item_id}"}}


def agent_config(tmp_path: Path, *, out: str = "runs", **overrides: Any) -> dict[str, Any]:
    bench = tmp_path / "bench" / "meta.jsonl"
    if not bench.is_file():
        write_benchmark(tmp_path / "bench")
    data: dict[str, Any] = {
        "name": "agent",
        "benchmark": {"name": "demo", "meta": str(bench), "audio_root": str(bench.parent)},
        "captioners": [],
        "reasoner": {"name": "scripted", "config": {"default": "No tools needed.\nANSWER: A"}},
        "agent": {"tools": [ASR], "max_steps": 3},
        "run": {"output_dir": str(tmp_path / out), "batch_size": 4},
        "cache_dir": str(tmp_path / "cache"),
    }
    data.update(overrides)
    return data


def run(tmp_path: Path, data: dict[str, Any], *args: str) -> Result:
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(data))
    return runner.invoke(app, ["run", "--config", str(path), *args])


def run_dir(tmp_path: Path, out: str = "runs") -> Path:
    (found,) = (tmp_path / out).iterdir()
    return found


def results(folder: Path) -> dict[str, dict[str, Any]]:
    lines = (folder / "results.jsonl").read_text().splitlines()
    return {r["id"]: r for r in map(json.loads, lines)}


def summary(folder: Path) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    return found


def calls(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for s in result["agent"]["steps"] for c in s["calls"]]


# --- 1. without an agent section nothing changes ------------------------------------------


def test_without_an_agent_section_fingerprints_and_keys_are_unchanged() -> None:
    """Values computed by the code before agent runs existed (main at 7d9aca7)."""
    assert resolve("default").fingerprint() == "54e294bc7db8"
    config = validate(
        {
            "name": "x",
            "benchmark": {"name": "demo"},
            "captioners": ["signal", {"name": "scripted", "config": {"kind": "asr"}}],
            "reasoner": {"name": "scripted"},
        }
    )
    assert config.fingerprint() == "94f96768b3ab"
    messages = (ChatMessage("system", "s"), ChatMessage("user", "u"))
    assert reasoner_key(messages, Identity("reasoner", "scripted", 1, {"a": 1}), 0) == (
        "976adf3a4107ab01590c8194aa9363504bc4a0d5534896a2f872a87376c645ae"
    )
    assert stage_key("abc", Identity("captioner", "scripted", 1, {}), None) == (
        "5e8dda37e09fe1bc49b7956fddd2ec52a4d674c84c160ec4a40d7c1914d96923"
    )
    assert ChatRequest("x", messages).to_json() == {
        "item_id": "x",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}],
        "sample_index": 0,
    }


def test_the_fingerprint_covers_the_tools_budget_and_protocol(tmp_path: Path) -> None:
    base = validate(agent_config(tmp_path))
    changed = [
        validate(agent_config(tmp_path, agent={"tools": [ASR], "max_steps": 4})),
        validate(agent_config(tmp_path, agent={"tools": [ASR, "signal"], "max_steps": 3})),
        validate(
            agent_config(tmp_path, agent={"tools": [ASR], "max_steps": 3, "protocol": "native"})
        ),
    ]
    prints = {c.fingerprint() for c in [base, *changed]}
    assert len(prints) == 4
    timeout = agent_config(tmp_path, agent={"tools": [ASR], "max_steps": 3, "tool_timeout_s": 9})
    assert validate(timeout).fingerprint() == base.fingerprint()  # how long to wait only


def test_set_agent_keys_on_the_command_line(tmp_path: Path) -> None:
    config = resolve(
        "default",
        overrides=["captioners=[]", "agent.tools=[whisper,signal]", "agent.max_steps=2"],
    )
    assert config.agent is not None
    assert [t.name for t in config.agent.tools] == ["whisper", "signal"]
    assert config.agent.max_steps == 2


@pytest.mark.parametrize(
    ("agent", "captioners", "says"),
    [
        ({"tools": [ASR], "sees": "description"}, [], "captioners is empty"),
        ({"tools": [ASR]}, [{"name": "scripted"}], "would run for nothing"),
        ({"tools": ["no-such-tool"]}, [], "no-such-tool"),
        ({"tools": []}, [], "agent.tools"),
    ],
)
def test_a_wrong_agent_section_is_one_paragraph(
    tmp_path: Path, agent: dict[str, Any], captioners: list[Any], says: str
) -> None:
    result = run(tmp_path, agent_config(tmp_path, agent=agent, captioners=captioners))
    assert result.exit_code == ExitCode.ERROR, result.output
    assert says in result.output
    assert "Traceback" not in result.output


# --- 2/3/8. the loop, the tools and the model's bad behaviour, text protocol ---------------


def test_an_agent_run_records_every_step_and_outcome(tmp_path: Path) -> None:
    turns = {
        # a window past the clip's end, then an answer
        "tone-440": ['I listen.\nCALL transcribe {"start_s": 0.1, "end_s": 9}', "ANSWER: B"],
        # an unknown tool, malformed arguments, then the same call again and again: budget
        "tone-880": [
            'CALL transcribe {}\nCALL nope {}\nCALL transcribe {"start_s": "x"}',
            "CALL transcribe {}",
            "CALL transcribe {}",
        ],
        # a window that starts after the clip, then an answer
        "speech-yes": ['CALL transcribe {"start_s": 3}', "ANSWER: B"],
    }
    data = agent_config(tmp_path)
    data["reasoner"]["config"]["turns"] = turns
    result = run(tmp_path, data)
    assert result.exit_code == ExitCode.OK, result.output
    folder = run_dir(tmp_path)
    lines = results(folder)

    first = lines["tone-440"]
    assert first["agent"]["outcome"] == "answer" and first["correct"]["strict"]
    (call,) = calls(first)
    assert call["window"] == [0.1, 0.5] and call["cached"] is False
    assert "past the clip's end, so it was clipped" in call["output"]
    assert "<transcript>\nwords of tone-440\n</transcript>" in call["output"]
    assert first["agent"]["steps"][1]["request"][0]["content"].startswith(
        "Results of your tool calls"
    )

    looping = lines["tone-880"]
    assert looping["error"] is None  # an INVALID answer, not a failure to retry
    assert looping["raw_answer"] == "" and looping["finish_reason"] == "budget"
    assert looping["extractions"]["strict"]["index"] is None and not any(
        looping["correct"].values()
    )
    made = calls(looping)
    assert made[1]["output"] == "error: there is no tool named 'nope'; the tools are: transcribe"
    assert "`start_s` must be a number of seconds" in made[2]["output"]
    assert made[3]["repeated_from"] == 1 and made[3]["key"] == made[0]["key"]
    assert "step budget" in made[4]["output"]

    late = calls(lines["speech-yes"])[0]
    assert "starts at 3.00 s, but the clip ends at 0.50 s" in late["output"]

    numbers = summary(folder)["agent"]
    printed = " ".join(result.output.split())
    assert "agent: tool calls computed 2, re-used 0, failed 0; per item mean 1.17, max 5" in printed
    assert numbers["outcomes"] == {"answer": 5, "budget": 1, "context": 0, "length": 0}
    assert numbers["zero_calls"] == 3 and numbers["repeated_calls"] == 1
    assert numbers["calls_per_item"] == {"mean": round(7 / 6, 3), "max": 5}
    assert numbers["items_calling"]["transcribe"] == {"items": 2, "share": round(2 / 6, 4)}
    assert numbers["calls"]["computed"] == 2 and numbers["calls"]["reused"] == 0

    predictions = {p["id"]: p for p in json.loads((folder / "predictions.json").read_text())}
    assert predictions["tone-880"]["thinking_prediction"] == looping["reasoning"]
    assert looping["reasoning"].startswith("Step 1:\nCALL transcribe {}")
    assert looping["reasoning"].endswith("(ended without an answer: budget)")


def test_windows_are_rounded_to_hundredths_before_the_key(tmp_path: Path) -> None:
    data = agent_config(tmp_path)
    data["reasoner"]["config"]["turns"] = {
        "tone-440": ['CALL transcribe {"start_s": 0.123, "end_s": 0.3}'],
        "tone-880": ['CALL transcribe {"start_s": 0.1249, "end_s": 0.30001}'],
    }
    assert run(tmp_path, data).exit_code == ExitCode.OK
    lines = results(run_dir(tmp_path))
    first, second = calls(lines["tone-440"])[0], calls(lines["tone-880"])[0]
    assert first["window"] == second["window"] == [0.12, 0.3]
    # two clips: two keys, but each is keyed on the rounded window
    assert first["key"] != second["key"]


def test_a_second_run_computes_no_tool_call(tmp_path: Path) -> None:
    turns = {i[0]: ['CALL transcribe {}\nCALL transcribe {"end_s": 0.25}'] for i in ITEMS}
    data = agent_config(tmp_path)
    data["reasoner"]["config"]["turns"] = turns
    assert run(tmp_path, data).exit_code == ExitCode.OK
    assert summary(run_dir(tmp_path))["agent"]["calls"]["computed"] == 12
    # another reasoner (another run directory), the same cache
    data["reasoner"]["config"]["default"] = "Another reasoner.\nANSWER: B"
    data["run"]["output_dir"] = str(tmp_path / "second")
    assert run(tmp_path, data).exit_code == ExitCode.OK
    calls_made = summary(run_dir(tmp_path, "second"))["agent"]["calls"]
    assert calls_made["computed"] == 0 and calls_made["reused"] == 12


def test_a_whole_clip_call_reuses_the_one_way_output(tmp_path: Path) -> None:
    one_way = agent_config(tmp_path, captioners=[ASR], out="one-way")
    one_way.pop("agent")
    assert run(tmp_path, one_way).exit_code == ExitCode.OK
    data = agent_config(tmp_path)
    data["reasoner"]["config"]["turns"] = {i[0]: ["CALL transcribe {}"] for i in ITEMS}
    assert run(tmp_path, data).exit_code == ExitCode.OK
    made = summary(run_dir(tmp_path))["agent"]["calls"]
    assert made["computed"] == 0 and made["reused"] == 6
    keys = {r["stages"]["scripted"]["key"] for r in results(run_dir(tmp_path, "one-way")).values()}
    assert {calls(r)[0]["key"] for r in results(run_dir(tmp_path)).values()} == keys


def test_a_tool_that_times_out_is_a_tool_error(tmp_path: Path) -> None:
    slow = {"name": "scripted", "config": {"kind": "asr", "delay_s": 2.0}}
    data = agent_config(
        tmp_path,
        agent={"tools": [slow], "max_steps": 2, "tool_timeout_s": 0.2},
        benchmark={**agent_config(tmp_path)["benchmark"], "ids": ["tone-440"]},
    )
    data["reasoner"]["config"]["turns"] = {"tone-440": ["CALL transcribe {}", "ANSWER: B"]}
    result = run(tmp_path, data)
    assert result.exit_code == ExitCode.OK, result.output
    (call,) = calls(results(run_dir(tmp_path))["tone-440"])
    assert call["output"].startswith("error: transcribe failed: the tool took longer than 0.2 s")
    assert summary(run_dir(tmp_path))["agent"]["calls"]["failed"] == 1


def test_a_conversation_past_the_context_is_invalid_and_other_errors_fail(
    tmp_path: Path,
) -> None:
    data = agent_config(tmp_path)
    data["reasoner"]["config"]["errors"] = {
        "tone-440": "HTTP 400: This model's maximum context length is 4096 tokens",
        "tone-880": "HTTP 500: server error",
    }
    result = run(tmp_path, data)
    assert result.exit_code == ExitCode.FAILED_ITEMS, result.output
    lines = results(run_dir(tmp_path))
    assert lines["tone-440"]["error"] is None and lines["tone-440"]["finish_reason"] == "context"
    assert lines["tone-440"]["raw_answer"] == "" and not lines["tone-440"]["correct"]["lenient"]
    assert lines["tone-880"]["error_stage"] == "reasoner"
    assert summary(run_dir(tmp_path))["agent"]["outcomes"]["context"] == 1


def test_thinking_prediction_stays_within_mmar_limit(tmp_path: Path) -> None:
    long = {"name": "scripted", "config": {"kind": "asr", "template": "word " * 5000}}
    data = agent_config(tmp_path, agent={"tools": [long], "max_steps": 4})
    data["reasoner"]["config"]["turns"] = {
        "tone-440": [
            'CALL transcribe {"end_s": 0.2}',
            'CALL transcribe {"start_s": 0.2}',
            "CALL transcribe {}",
            "ANSWER: B",
        ]
    }
    assert run(tmp_path, data).exit_code == ExitCode.OK
    line = results(run_dir(tmp_path))["tone-440"]
    assert len(line["reasoning"]) <= 10_000
    assert "more characters in results.jsonl" in line["reasoning"]
    assert all(len(c["output"]) > 25_000 for c in calls(line))  # whole in the results


def test_ray_refuses_an_agent_run_before_any_work(tmp_path: Path) -> None:
    data = agent_config(tmp_path)
    data["run"]["executor"] = "ray"
    result = run(tmp_path, data)
    assert result.exit_code == ExitCode.ERROR, result.output
    assert "run.executor=ray does not run agent runs" in " ".join(result.output.split())
    assert not list((tmp_path / "runs").rglob("results.jsonl"))
    assert not (tmp_path / "cache" / "stages").exists()


# --- 4. native tool calls against a stand-in orchestrator -----------------------------------


def test_a_stand_in_orchestrator_gets_the_tool_outputs(tmp_path: Path) -> None:
    texts = {i[0]: f"the speaker says letter {correct_letter(i[0])}" for i in ITEMS}
    tools = [
        {"name": "scripted", "config": {"kind": "asr", "texts": texts}},
        {"name": "scripted", "label": "tags", "config": {"kind": "tags"}},
        {
            "name": "scripted",
            "label": "ask_audio",
            "config": {"asks": True, "template": "you asked: {question}"},
        },
    ]
    with OrchestratorServer() as server:
        data = agent_config(
            tmp_path,
            reasoner={
                "name": "openai",
                "config": {"model": "orchestrator"},
                "runtime": {"base_url": server.url, "max_retries": 0},
            },
            agent={"tools": tools, "max_steps": 3},
        )
        result = run(tmp_path, data)
        assert result.exit_code == ExitCode.OK, result.output
        folder = run_dir(tmp_path)
        lines = results(folder)
        assert all(r["correct"]["strict"] for r in lines.values())  # answered from the tools
        first = server.seen[0]
        assert [t["function"]["name"] for t in first["tools"]] == [
            "transcribe",
            "tags",
            "ask_audio",
        ]
        answers = [b for b in server.seen if any(m["role"] == "tool" for m in b["messages"])]
        tool_messages = [m for m in answers[0]["messages"] if m["role"] == "tool"]
        assert [m["tool_call_id"] for m in tool_messages] == ["s1c1", "s1c2", "s1c3"]
        assert "<transcript>" in tool_messages[0]["content"]
        assert "so it was clipped" in tool_messages[0]["content"]
        assert "you asked: What letter is spoken?" in tool_messages[2]["content"]
        trace = lines["tone-440"]["agent"]
        assert trace["protocol"] == "native" and len(trace["steps"]) == 2
        assert [c["name"] for c in calls(lines["tone-440"])] == ["transcribe", "tags", "ask_audio"]
        assert summary(folder)["agent"]["calls"]["computed"] == 18

        seen = len(server.seen)
        data["run"]["output_dir"] = str(tmp_path / "again")
        assert run(tmp_path, data).exit_code == ExitCode.OK
        again = summary(run_dir(tmp_path, "again"))
        assert again["agent"]["calls"]["computed"] == 0 and again["agent"]["calls"]["reused"] == 18
        assert len(server.seen) == seen  # every turn from the cache too


# --- 3. a sweep: one-way and agent runs of the same reasoner, paired -------------------------


def test_a_sweep_pairs_one_way_and_agent_runs_of_one_reasoner(tmp_path: Path) -> None:
    base = agent_config(tmp_path, captioners=[ASR])
    base.pop("agent")
    base["reasoner"]["config"]["answers"] = {i[0]: f"ANSWER: {correct_letter(i[0])}" for i in ITEMS}
    # tone-440: one-way, the first turn's text is the answer (INVALID); the agent calls, then
    # answers right
    base["reasoner"]["config"]["turns"] = {"tone-440": ["CALL transcribe {}", "ANSWER: B"]}
    sweep = {
        "name": "one-way-vs-agent",
        "base": base,
        "output_dir": str(tmp_path / "sweep"),
        "scorer": "strict",
        "variations": {
            "agent": ["captioners=[]", f"agent.tools=[{json.dumps(ASR)}]"],
            "agent-no-tool-left": ["captioners=[]", "agent.tools=[signal]"],
        },
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    done = runner.invoke(app, ["ablate", str(path), "--only", "agent"])
    assert done.exit_code == ExitCode.OK, done.output
    flips = json.loads((tmp_path / "sweep" / "flips.json").read_text())
    assert flips["agent"]["strict"]["wrong_to_right"] == ["tone-440"]
    assert flips["agent"]["strict"]["right_to_wrong"] == []
    assert "| agent " in (tmp_path / "sweep" / "table.md").read_text()


def test_report_html_shows_each_step_of_the_trace(tmp_path: Path) -> None:
    data = agent_config(tmp_path)
    data["reasoner"]["config"]["turns"] = {
        "tone-440": ['Let me hear <b>it</b>.\nCALL transcribe {"end_s": 0.2}', "ANSWER: B"]
    }
    assert run(tmp_path, data).exit_code == ExitCode.OK
    page = (run_dir(tmp_path) / "report.html").read_text()
    assert "Agent trace (answer; 2 steps, 1 tool calls)" in page
    assert "Let me hear &lt;b&gt;it&lt;/b&gt;." in page  # escaped, as every text of the page
    assert "transcribe {&#34;end_s&#34;: 0.2}" in page
    assert "&lt;transcript&gt;\nwords of tone-440\n&lt;/transcript&gt;" in page


def test_the_plan_lists_tools_budget_and_worst_case(tmp_path: Path) -> None:
    data = agent_config(tmp_path, agent={"tools": [ASR, "signal"], "max_steps": 5})
    data["run"]["executor"] = "ray"
    result = run(tmp_path, data, "--dry-run")
    assert result.exit_code == ExitCode.OK, result.output
    printed = " ".join(result.output.split())
    assert "tools transcribe (scripted), measure_signal (signal)" in printed
    assert "5 turns per item, 4 calls per turn" in printed
    assert "30 model turns, 96 tool calls" in printed  # 6 items
    assert "refused run.executor=ray does not run agent runs" in printed
    planned = json.loads(run(tmp_path, data, "--dry-run", "--json").output)["agent"]
    assert planned["worst_case"] == {
        "turns_per_item": 5,
        "tool_calls_per_item": 16,
        "turns": 30,
        "tool_calls": 96,
    }
    assert planned["tools"][1]["parameters"]["properties"]["end_s"]["type"] == "number"
