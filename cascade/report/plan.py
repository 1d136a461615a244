"""The run plan as a person reads it (`cascade run --dry-run`): a short page of what the run
will do, ask and cost, from the plan's JSON (`cascade.run.preview.describe_plan`)."""

from __future__ import annotations

from typing import Any


def _n(value: int | float | None) -> str:
    return "-" if value is None else f"{value:,}"


def _dollars(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:,.2f}" if value >= 0.01 or value == 0 else f"${value:.4f}"


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """At most about 40 lines: items and audio, stages, requests, tokens, cost, claim, run dir."""
    bench, requests = plan["benchmark"], plan["requests"]
    lines = [f"Plan of {plan['name']} on {bench['name']} (config {plan['fingerprint']})"]
    lines += [f"! {notice}" for notice in plan.get("notices") or []]
    audio = f"audio found {_n(bench['audio_found'])}, missing {_n(bench['audio_missing'])}"
    samples = f", {plan['samples']} samples each" if plan.get("samples", 1) > 1 else ""
    lines.append(f"items      {_n(bench['items'])}{samples} ({audio})")
    if bench["audio_missing"]:
        lines.append(f"  missing: {', '.join(bench['audio_missing_examples'])}, ...")
        lines.append(f"  fix: {bench['audio_fix']}")
    if requests["items_answered_already"]:
        lines.append(
            f"  answered in the run directory already: {_n(requests['items_answered_already'])}"
            f"; to answer {_n(requests['items_to_answer'])}"
        )
    lines.append(f"front-end  schedule {plan['schedule']}, executor {plan['executor']}")
    for stage in plan["captioners"]:
        runtime, outputs = stage["runtime"], stage["outputs"]
        where = ", ".join(
            f"{key} {runtime[key]}" for key in ("backend", "device") if runtime.get(key)
        )
        model = stage["config"].get("model")
        named = stage["component"] + (f" {model}" if model else "")
        lines.append(
            f"  {stage['label']:<12} {named} ({stage['kind']}{', ' + where if where else ''}): "
            f"cached {_n(outputs['cached'])}, to compute {_n(outputs['to_compute'])}"
            + ("" if outputs["exact"] else " at most (ablation audio not made yet)")
        )
    if not plan["captioners"]:
        lines.append("  none (the description needs no front-end)")
    reasoner = plan["reasoner"]
    where = ", ".join(
        f"{key} {reasoner['runtime'][key]}"
        for key in ("backend", "device", "base_url")
        if reasoner["runtime"].get(key)
    )
    preset = f", preset {reasoner['preset']}" if reasoner.get("preset") else ""
    lines.append(
        f"reasoner   {reasoner['component']} {requests['model'] or ''}".rstrip()
        + f" ({where or 'local'}{preset})"
    )
    at_most = (
        f", at most {_n(requests['at_most_new'])} new (their prompts need the front-end first)"
        if requests["at_most_new"]
        else ""
    )
    lines.append(
        f"  requests {_n(requests['requests'])}: cached {_n(requests['cached'])}, new "
        f"{_n(requests['new'])}{at_most}"
    )
    budget = requests["max_tokens"]
    lines.append(
        f"  budget   {_n(budget)} output tokens per request"
        if budget
        else "  budget   none set (the back-end's own limit)"
    )
    about = "" if requests["input_tokens_known"] else "about "
    lines.append(
        f"  tokens   input {about}{_n(requests['input_tokens'])}, output at most "
        f"{_n(requests['output_tokens_worst'])} ({requests['tokens_counted_by']})"
    )
    if requests["input_note"]:
        lines.append(f"           {requests['input_note']}")
    lines += _cost_lines(plan, requests)
    if plan.get("agent"):
        lines += _agent_lines(plan["agent"])
    lines.append(f"claim      {_claim(plan)}")
    lines.append(f"run dir    {plan['run_dir']}: {_resume(plan['resume'])}")
    return lines


def _agent_lines(agent: dict[str, Any]) -> list[str]:
    """An agent run: its tools, budget and worst case (the requests above count one turn per
    item; an agent item takes up to `max_steps`, each re-sending the conversation so far)."""
    worst = agent["worst_case"]
    tools = ", ".join(f"{t['name']} ({t['component']})" for t in agent["tools"])
    lines = [
        f"agent      {agent['protocol']} tool calls; sees the {agent['sees']} first; tools {tools}",
        f"  budget   {agent['max_steps']} turns per item, {agent['calls_per_step']} calls per "
        f"turn, {agent['tool_timeout_s']:g} s per call",
        f"  worst    {_n(worst['turns'])} model turns, {_n(worst['tool_calls'])} tool calls "
        f"({worst['turns_per_item']} turns and {worst['tool_calls_per_item']} calls per item; "
        "the requests above are the first turns only)",
    ]
    if agent.get("refused"):
        lines.append(f"  refused  {agent['refused']}")
    return lines


def _cost_lines(plan: dict[str, Any], requests: dict[str, Any]) -> list[str]:
    price = requests["price"]
    if price is None:
        return [f"  cost     no price known: {requests['cost_note']}"]
    rates = f"${price['input_per_mtok']:g} in / ${price['output_per_mtok']:g} out per M tokens"
    if price.get("cached_input_per_mtok") is not None:
        rates += f", ${price['cached_input_per_mtok']:g} cached in"
    lines = [f"  cost     at most {_dollars(requests['cost_usd_worst'])} at {rates}"]
    lines.append(f"           {requests['cost_note']}")
    limit = plan.get("max_cost_usd")
    if limit is not None:
        verdict = (
            "refused: the worst case exceeds it"
            if requests["cost_usd_worst"] is not None and requests["cost_usd_worst"] > limit
            else "the run stops when its answers reach it"
        )
        lines.append(f"  limit    --max-cost {_dollars(limit)}: {verdict}")
    return lines


def _claim(plan: dict[str, Any]) -> str:
    from cascade.run import stored_sentence

    claim = plan.get("claim")
    if claim and claim["holds"]:
        return f"reproduces {claim['row']} (assumed where the paper is silent: claim.assumes)"
    return str(stored_sentence({"claim": claim}))


def _resume(resume: dict[str, Any]) -> str:
    if resume.get("conflict"):
        return str(resume["conflict"])
    if resume["resumes"]:
        return f"resumes it ({_n(resume['answered'])} items answered there)"
    return "a new run"
