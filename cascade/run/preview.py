"""What a run would do, shown before it runs (`cascade run --dry-run`): its benchmark, models,
prompts, executor and schedule, and the published row it reproduces. Loads no model."""

from __future__ import annotations

from typing import Any

from cascade.core import Cache, ConfigError
from cascade.run import plan
from cascade.run.agent import Agent
from cascade.run.claims import claim_json
from cascade.run.config import RunConfig
from cascade.run.executor import executor_by_name, refuse_agent


def describe_plan(config: RunConfig) -> dict[str, Any]:
    """What a run would do: benchmark, items, models, backends, prompts, the row it reproduces."""
    benchmark = plan.load_benchmark(config.benchmark, need_audio=False)
    missing = sum(1 for i in benchmark.items if i.audio is None or not i.audio.is_file())
    stages = plan.build_stages(config)
    reasoner = plan.build_reasoner(config)
    loaded = plan.load_prompts(config)
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
        "schedule": executor_by_name(config.run.executor).schedule(config.run),
        "executor": config.run.executor,
        "ray_address": config.run.ray_address,
        **claim_plan(config),
        "notices": plan.notices(config),
    } | ({"agent": agent_plan(config, len(benchmark.items))} if config.agent else {})


def agent_plan(config: RunConfig, items: int) -> dict[str, Any]:
    """An agent run's tools (with the schema the model reads), protocol, budget, and the
    worst case of model turns and tool calls (every item using its whole budget)."""
    spec = config.agent
    assert spec is not None
    agent = Agent.build(config, Cache(config.cache_dir))
    assert agent is not None
    conversations = items * config.run.samples
    calls_per_item = (spec.max_steps - 1) * spec.calls_per_step
    executor = executor_by_name(config.run.executor)
    try:
        refuse_agent(executor, config)
        refused = None
    except ConfigError as error:
        refused = str(error)
    return {
        "protocol": agent.protocol,
        "sees": spec.sees,
        "max_steps": spec.max_steps,
        "calls_per_step": spec.calls_per_step,
        "tool_timeout_s": spec.tool_timeout_s,
        "tools": [
            {
                "name": tool.schema.name,
                "component": tool.stage.component.name,
                "kind": tool.stage.component.kind,
                "preset": tool_spec.preset,
                "description": tool.schema.description,
                "parameters": tool.schema.parameters(),
            }
            for tool, tool_spec in zip(agent.toolbox.tools.values(), spec.tools, strict=True)
        ],
        "worst_case": {
            "turns_per_item": spec.max_steps,
            "tool_calls_per_item": calls_per_item,
            "turns": conversations * spec.max_steps,
            "tool_calls": conversations * calls_per_item,
        },
        "refused": refused,
    }


def claim_plan(config: RunConfig) -> dict[str, Any]:
    """The plan's `reproduces` (the claimed row, only while the claim holds) and `claim` (the
    row, whether it holds, the settings that differ and what is assumed; null: none claimed)."""

    claim = claim_json(config)
    return {"reproduces": claim["row"] if claim and claim["holds"] else None, "claim": claim}
