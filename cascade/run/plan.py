"""From a resolved run config to components, prompts and benchmark, without loading any model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cascade.core import (
    Benchmark,
    BenchmarkSpec,
    Captioner,
    Component,
    ConfigError,
    PromptTemplate,
    Reasoner,
    prompts,
    registry,
)
from cascade.run import config as configs
from cascade.run.claims import claim_json
from cascade.run.config import ComponentSpec, RunConfig
from cascade.run.frontend import Stage


def build(table: registry.Table, spec: ComponentSpec) -> Component:
    """Instantiate a registered component with its config and runtime (loads no model)."""
    cls = registry.resolve(table, spec.name)
    try:
        component: Component = cls(config=spec.config, runtime=spec.runtime)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(
            f"{table} {spec.stage!r}: invalid config or runtime: {problems}"
        ) from None
    return component


def build_stages(config: RunConfig) -> list[Stage]:
    stages = []
    for spec in config.captioners:
        component = build("captioner", spec)
        assert isinstance(component, Captioner)
        stages.append(Stage(label=spec.stage, component=component))
    labels = [s.label for s in stages]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"two captioners share a label in {labels}; give one a distinct `label`")
    return stages


def build_reasoner(config: RunConfig) -> Reasoner:
    component = build("reasoner", config.reasoner)
    assert isinstance(component, Reasoner)
    return component


def load_benchmark(spec: BenchmarkSpec, *, need_audio: bool = True) -> Benchmark:
    loader = registry.resolve("benchmark", spec.name)
    benchmark: Benchmark = loader(spec, need_audio=need_audio)
    return benchmark


@dataclass(frozen=True)
class Prompts:
    description: PromptTemplate
    answer: PromptTemplate


def load_prompts(config: RunConfig) -> Prompts:
    return Prompts(
        description=prompts.load(config.prompts.description),
        answer=prompts.load(config.prompts.answer),
    )


SCRIPTED = "scripted"
"""The registered name of the test doubles (cascade.testing): they never run unless named."""


def scripted(config: RunConfig) -> list[str]:
    """The run's scripted components: `reasoner`, `captioner:<label>`."""
    found = [f"captioner:{c.stage}" for c in config.captioners if c.name == SCRIPTED]
    return found + (["reasoner"] if config.reasoner.name == SCRIPTED else [])


def notices(config: RunConfig) -> list[str]:
    """What anyone reading the run's numbers must be told: scripted components (the numbers
    measure nothing) and presets that ran their fallback instead of themselves."""
    found = []
    if config.reasoner.name == SCRIPTED:
        found.append(
            "SCRIPTED REASONER: the answers come from a fixed script (cascade.testing), not a "
            "model; these numbers test the pipeline and measure nothing"
        )
    for spec in config.captioners:
        if spec.name == SCRIPTED:
            found.append(
                f"SCRIPTED CAPTIONER {spec.stage!r}: its descriptions come from a fixed "
                "template (cascade.testing), not a model"
            )
    specs: list[tuple[registry.Table, ComponentSpec]] = [
        *(("captioner", c) for c in config.captioners),
        ("reasoner", config.reasoner),
    ]
    for table, spec in specs:
        if spec.fallback_from:
            found.append(
                f"FALLBACK: the {table} preset {spec.fallback_from!r} cannot run here "
                f"({_not_installed(table, spec.fallback_from)}), so its fallback "
                f"{spec.preset!r} ({spec.name}) runs instead"
            )
    return found


def _not_installed(table: registry.Table, preset: str) -> str:
    """Why a preset's own component cannot run here, and the install that fixes it."""
    path = configs.find_config(preset, f"{table}s")
    name = str(configs.read_yaml(path).get("name")) if path is not None else preset
    component = registry.resolve(table, name)
    needs = ", ".join(getattr(component, "requires", ())) or "a module"
    extra = getattr(component, "extra", None)
    needs = f"{table} {name!r} needs {needs}, which is not installed here"
    return f"{needs}: pip install -e '.[{extra}]'" if extra else needs


def describe_plan(config: RunConfig) -> dict[str, Any]:
    """What a run would do: benchmark, items, models, backends, prompts, the row it reproduces."""
    benchmark = load_benchmark(config.benchmark, need_audio=False)
    missing = sum(1 for i in benchmark.items if i.audio is None or not i.audio.is_file())
    stages = build_stages(config)
    reasoner = build_reasoner(config)
    loaded = load_prompts(config)
    return {
        "name": config.name,
        "fingerprint": config.fingerprint(),
        "benchmark": {
            "name": benchmark.name,
            "items": len(benchmark.items),
            "audio_missing": missing,
            "audio_root": str(config.benchmark.audio_root) if config.benchmark.audio_root else None,
        },
        "captioners": [
            {
                "label": stage.label,
                "component": stage.component.name,
                "kind": stage.component.kind,
                "preset": spec.preset,
                "fallback_from": spec.fallback_from,
                "config": stage.component.config.model_dump(mode="json"),
                "runtime": stage.component.runtime.model_dump(mode="json"),
            }
            for stage, spec in zip(stages, config.captioners, strict=True)
        ],
        "reasoner": {
            "component": reasoner.name,
            "preset": config.reasoner.preset,
            "fallback_from": config.reasoner.fallback_from,
            "config": reasoner.config.model_dump(mode="json"),
            "runtime": reasoner.runtime.model_dump(mode="json"),
        },
        "prompts": {
            "description": f"{loaded.description.name} v{loaded.description.version}",
            "answer": f"{loaded.answer.name} v{loaded.answer.version}",
        },
        "audio": config.audio.model_dump(mode="json"),
        "description": config.description.model_dump(mode="json"),
        "schedule": config.run.schedule if config.run.executor == "local" else "frontend-first",
        "executor": config.run.executor,
        "ray_address": config.run.ray_address,
        **claim_plan(config),
        "notices": notices(config),
    }


def claim_plan(config: RunConfig) -> dict[str, Any]:
    """The plan's `reproduces` (the claimed row, only while the claim holds) and `claim` (the
    row, whether it holds, the settings that differ and what is assumed; null: none claimed)."""

    claim = claim_json(config)
    return {"reproduces": claim["row"] if claim and claim["holds"] else None, "claim": claim}
