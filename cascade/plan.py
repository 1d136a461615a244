"""From a resolved run config to components, prompts and benchmark, without loading any model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from cascade import prompts, registry
from cascade.benchmarks import Benchmark, BenchmarkSpec
from cascade.components import Captioner, Component, Reasoner
from cascade.config import ComponentSpec, RunConfig
from cascade.errors import ConfigError
from cascade.frontend import Stage
from cascade.prompts import PromptTemplate


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
                "config": stage.component.config.model_dump(mode="json"),
                "runtime": stage.component.runtime.model_dump(mode="json"),
            }
            for stage, spec in zip(stages, config.captioners, strict=True)
        ],
        "reasoner": {
            "component": reasoner.name,
            "preset": config.reasoner.preset,
            "config": reasoner.config.model_dump(mode="json"),
            "runtime": reasoner.runtime.model_dump(mode="json"),
        },
        "prompts": {
            "description": f"{loaded.description.name} v{loaded.description.version}",
            "answer": f"{loaded.answer.name} v{loaded.answer.version}",
        },
        "audio": config.audio.model_dump(mode="json"),
        "description": config.description.model_dump(mode="json"),
        "schedule": config.run.schedule,
        **claim_plan(config),
    }


def claim_plan(config: RunConfig) -> dict[str, Any]:
    """The plan's `reproduces` (the claimed row, only while the claim holds) and `claim` (the
    row, whether it holds, the settings that differ and what is assumed; null: none claimed)."""
    from cascade.claims import claim_json

    claim = claim_json(config)
    return {"reproduces": claim["row"] if claim and claim["holds"] else None, "claim": claim}
