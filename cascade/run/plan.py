"""From a resolved run config to components, prompts and benchmark, without loading any model."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from cascade.core import (
    Benchmark,
    BenchmarkSpec,
    Captioner,
    Component,
    ConfigError,
    PromptTemplate,
    Reasoner,
    benchmark_by_name,
    prompts,
    registry,
)
from cascade.run import config as configs
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
    return benchmark_by_name(spec.name).load(spec, need_audio=need_audio)


@dataclass(frozen=True)
class Prompts:
    """The run's two templates: the description's and the answering prompt's."""

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
