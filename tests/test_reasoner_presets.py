"""Reasoner presets: each validates, names a registered back-end, is documented, and the API
presets send what their provider expects (checked against the local fault-injecting server)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cascade.reasoners.openai_compat import OpenAIReasoner

from cascade.core import registry
from cascade.run import ComponentSpec
from cascade.run.config import component_spec, presets
from tests.test_reasoner_openai import FaultServer, Reply, request

PRESETS = presets("reasoners")
TABLE = (Path(__file__).parents[1] / "reasoners" / "PRESETS.md").read_text()
PAPER_ROWS = {"gpt-4o": 50.70, "deepseek-v3": 47.60, "o1": 53.00, "o3": 54.70, "deepseek-r1": 55.50}
"""Published averages (MMAR paper, cascade rows; /work/shared/data/README.md)."""


def spec(name: str) -> ComponentSpec:
    return ComponentSpec.model_validate(component_spec(name, "reasoners"))


def test_the_paper_rows_and_the_local_presets_exist() -> None:
    assert set(PAPER_ROWS) <= set(PRESETS)
    assert {"smollm2", "smollm2-transformers", "qwen3-8b", "qwen3-8b-nothink"} <= set(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_builds_its_component_without_loading_anything(name: str) -> None:
    s = spec(name)
    assert s.preset == name and (s.claim is not None) != (s.note is not None)
    component = registry.resolve("reasoner", s.name)(s.config, s.runtime)
    assert component.identity.config["model"]


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_is_in_the_documented_table(name: str) -> None:
    assert f"| `{name}` |" in TABLE


@pytest.mark.parametrize(("name", "average"), sorted(PAPER_ROWS.items()))
def test_paper_preset_states_the_published_number(name: str, average: float) -> None:
    claim = spec(name).claim
    assert claim is not None and claim.row.endswith(f"{average:.2f}% avg")
    row = next(line for line in TABLE.splitlines() if line.startswith(f"| `{name}` |"))
    assert f"| {average:.2f} |" in row


@pytest.mark.parametrize("name", ["qwen3-8b", "r1-distill-qwen-7b", "deepseek-r1", "o1", "o3"])
def test_reasoning_models_get_long_budgets(name: str) -> None:
    assert spec(name).config["max_tokens"] >= 16384


EXPECTED: dict[str, dict[str, Any]] = {
    "gpt-4o": {"model": "gpt-4o", "temperature": 0.0, "max_completion_tokens": 4096},
    "deepseek-v3": {"model": "deepseek-chat", "temperature": 0.0, "max_tokens": 8192},
    "deepseek-r1": {"model": "deepseek-reasoner", "max_tokens": 32768},
    "o1": {"model": "o1", "max_completion_tokens": 32768},
    "o3": {"model": "o3", "max_completion_tokens": 32768},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_api_preset_request_shape(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    s = spec(name)
    monkeypatch.setenv(s.runtime["api_key_env"], "sk-preset-test")
    with FaultServer([Reply()]) as server:
        runtime = {**s.runtime, "base_url": server.url, "max_retries": 0}
        (response,) = OpenAIReasoner(s.config, runtime).generate([request()])
    assert response.ok
    (seen,) = server.seen
    assert seen.headers["authorization"] == "Bearer sk-preset-test"
    for key, value in EXPECTED[name].items():
        assert seen.body[key] == value, key
    other = {"max_tokens", "max_completion_tokens"} - set(EXPECTED[name])
    assert not other & set(seen.body)
    if "temperature" not in EXPECTED[name]:
        assert "temperature" not in seen.body and "seed" not in seen.body
    if re.match(r"o\d", name):
        # OpenAI's o-series take the system prompt as a developer message.
        assert seen.body["messages"][0]["role"] == "developer"
