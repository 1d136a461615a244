"""What a run would do, shown before it runs (`cascade run --dry-run`): its benchmark and the
audio found, each stage with its component and how many outputs are cached or to compute, the
reasoner's requests, tokens and worst-case cost (`cascade.run.estimate`), the published row it
claims, and its run directory. Loads no model."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cascade.core import Cache, CascadeError, ConfigError, Item
from cascade.run import plan
from cascade.run.agent import Agent
from cascade.run.answering import pending_samples
from cascade.run.claims import claim_json
from cascade.run.config import RunConfig
from cascade.run.estimate import Estimate, estimate
from cascade.run.executor import executor_by_name, refuse_agent
from cascade.run.rundir import CONFIG, RunDir, read_samples

AUDIO_FIX = (
    "--set benchmark.audio_root=DIR (the folder holding the benchmark's audio paths), or "
    "--skip-missing-audio to run without those items"
)


def describe_plan(config: RunConfig, run_dir: Path | None = None) -> dict[str, Any]:
    """What a run would do: benchmark, items, audio, stages, requests, tokens, cost, claim."""
    benchmark = plan.load_benchmark(config.benchmark, need_audio=False)
    missing = [i for i in benchmark.items if i.audio is None or not i.audio.is_file()]
    stages = plan.build_stages(config)
    reasoner = plan.build_reasoner(config)
    loaded = plan.load_prompts(config)
    resume = resume_state(config, benchmark.items, run_dir)
    figures = estimate(
        config,
        benchmark.items,
        resume.pop("pending"),
        stages,
        reasoner,
        loaded,
        Cache(config.cache_dir),
    )
    by_label = {s.label: s for s in figures.stages}
    return {
        "name": config.name,
        "fingerprint": config.fingerprint(),
        "benchmark": {
            "name": benchmark.name,
            "items": len(benchmark.items),
            "audio_found": len(benchmark.items) - len(missing),
            "audio_missing": len(missing),
            "audio_missing_examples": [str(i.audio or i.audio_path) for i in missing[:3]],
            "audio_fix": AUDIO_FIX if missing else None,
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
                "outputs": {
                    "cached": by_label[stage.label].cached,
                    "to_compute": by_label[stage.label].to_compute,
                    "exact": by_label[stage.label].exact,
                },
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
        "requests": _requests(figures),
        "max_cost_usd": config.run.max_cost,
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
        "samples": config.run.samples,
        "run_dir": str(run_dir) if run_dir is not None else None,
        "resume": resume,
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


def _requests(figures: Estimate) -> dict[str, Any]:
    reasoner = figures.reasoner
    assert reasoner is not None  # every run has a reasoner
    return {
        "items_to_answer": figures.to_answer,
        "items_answered_already": figures.answered,
        **reasoner.to_json(),
    }


def resume_state(config: RunConfig, items: Sequence[Item], run_dir: Path | None) -> dict[str, Any]:
    """Whether the command starts the run directory afresh or resumes it, and the samples each
    item still needs (`pending`, for the estimate)."""
    fresh = {i.id: list(range(config.run.samples)) for i in items}
    if run_dir is None or not RunDir(run_dir).has(CONFIG):
        return {"resumes": False, "answered": 0, "pending": fresh}
    try:
        stored = RunDir(run_dir).stored_config()
    except CascadeError as error:
        raise ConfigError(f"the run directory cannot be resumed: {error}") from None
    if stored.get("fingerprint") != config.fingerprint():
        return {
            "resumes": False,
            "answered": 0,
            "pending": fresh,
            "conflict": f"{run_dir} holds a run with another config: the run would stop; "
            "choose another --run-dir",
        }
    samples = (
        read_samples(RunDir(run_dir).results_path)  # {} without the file
    )
    pending = {i.id: pending_samples(i, samples, config.run.samples) for i in items}
    return {
        "resumes": True,
        "answered": sum(1 for i in items if not pending[i.id]),
        "pending": pending,
    }


def claim_plan(config: RunConfig) -> dict[str, Any]:
    """The plan's `reproduces` (the claimed row, only while the claim holds) and `claim` (the
    row, whether it holds, the settings that differ and what is assumed; null: none claimed)."""

    claim = claim_json(config)
    return {"reproduces": claim["row"] if claim and claim["holds"] else None, "claim": claim}
