"""Run config resolution: shipped configs, presets, overrides, and errors for unknown keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cascade.core import ConfigError, RegistryError, prompts, registry
from cascade.run import config as configs
from cascade.run import plan


def write(path: Path, data: dict[str, object]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_overrides_apply_in_order(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", {"reasoner": {"name": "scripted"}, "run": {"batch_size": 4}})
    resolved = configs.resolve(
        str(path),
        captioners=["scripted", "scripted"],
        benchmark="mmar",
        limit=5,
        overrides=["run.batch_size=8", "captioners.1.label=second", "scoring.family_size=30"],
    )
    assert resolved.name == "c"
    assert resolved.benchmark.name == "mmar" and resolved.benchmark.limit == 5
    assert [c.stage for c in resolved.captioners] == ["scripted", "second"]
    assert resolved.run.batch_size == 8 and resolved.scoring.family_size == 30


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("run.batchsize=8", "run.batchsize: Extra inputs are not permitted"),
        ("benchmark.limit=0", "benchmark.limit: Input should be greater than or equal to 1"),
        ("nonsense=1", "nonsense: Extra inputs are not permitted"),
        ("run.batch_size", "--set expects key=value"),
        ("captioners.3.label=x", "is not in the list"),
    ],
)
def test_invalid_overrides_are_errors(tmp_path: Path, override: str, message: str) -> None:
    path = write(tmp_path / "c.yaml", {"captioners": [{"name": "scripted"}]})
    with pytest.raises(ConfigError, match=message):
        configs.resolve(str(path), overrides=[override])


def test_unknown_component_config_key_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", {"reasoner": {"name": "scripted", "config": {"answr": {}}}})
    with pytest.raises(ConfigError, match=r"reasoner 'scripted': invalid config.*answr"):
        plan.build_reasoner(configs.resolve(str(path)))


def test_unknown_component_suggests_the_closest_name() -> None:
    with pytest.raises(RegistryError, match="Did you mean 'scripted'"):
        registry.entry("reasoner", "scriptd")


def test_fingerprint_ignores_where_and_how_but_not_what(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", {"reasoner": {"name": "scripted"}})
    base = configs.resolve(str(path)).fingerprint()
    assert configs.resolve(str(path), overrides=["run.output_dir=/elsewhere"]).fingerprint() == base
    assert (
        configs.resolve(str(path), overrides=["reasoner.runtime.delay_s=1"]).fingerprint() == base
    )
    assert configs.resolve(str(path), overrides=["reasoner.config.default=B"]).fingerprint() != base


def test_unknown_run_config_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="no run config 'nope'; shipped configs:"):
        configs.resolve("nope")


def test_every_shipped_config_and_preset_validates() -> None:
    for path in configs.configs_dir().glob("*.yaml"):
        resolved = configs.resolve(str(path))
        plan.build_stages(resolved)
        plan.build_reasoner(resolved)
    for folder, table in (("captioners", "captioner"), ("reasoners", "reasoner")):
        for name in configs.presets(folder):
            spec = configs.component_spec(name, folder)
            plan.build(table, configs.ComponentSpec.model_validate(spec))  # type: ignore[arg-type]


def test_preset_falls_back_when_its_backend_is_not_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert configs.component_spec("smollm2", "reasoners")["preset"] == "smollm2"
    monkeypatch.setattr(configs, "installed", lambda table, name: name != "vllm")
    spec = configs.component_spec("smollm2", "reasoners")
    assert (spec["name"], spec["preset"]) == ("transformers", "smollm2-transformers")
    assert "fallback" not in spec


def test_fingerprint_follows_prompt_text_and_ignores_scoring(tmp_path: Path) -> None:
    prompt = tmp_path / "mcq_cot.yaml"
    shipped = configs.configs_dir().parent / "prompts" / "mcq_cot.yaml"
    prompt.write_text(shipped.read_text())
    path = write(
        tmp_path / "c.yaml", {"reasoner": {"name": "scripted"}, "prompts": {"answer": str(prompt)}}
    )
    base = configs.resolve(str(path)).fingerprint()
    assert configs.resolve(str(path), overrides=["scoring.family_size=30"]).fingerprint() == base

    prompt.write_text(shipped.read_text().replace("Think step by step", "Reason carefully"))
    prompts.load.cache_clear()
    assert configs.resolve(str(path)).fingerprint() != base
