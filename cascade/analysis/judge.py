"""cascade's ungated reasoning-quality diagnostic (`cascade judge --protocol ungated`): never
MMAR-Rubrics, which is `cascade.analysis.rubrics`. Unlike the official protocol it judges every
item's reasoning whether its answer is right or not, with any judge and cascade's own prompt and
`POINT n: score` reply format.

Each item with a rubric (a list of scoring points, each scored from its `choices`, e.g. 0 or 1) is
shown to the judge with the question, the correct answer, the reference reasoning and the run's
reasoning and final answer; the judge scores every point. Five judge samples per item (sample
index 0..4 enters the cache key, so each is cached like any reasoner call); the five totals are
sorted, the lowest and highest dropped and the middle three averaged. A judge reply that cannot be
read is recorded as such with the reason and never guessed: an item with such a sample has no
rubric score (listed in the report). An item the run failed to answer scores 0, as errors count
as wrong in accuracy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cascade.core import (
    Cache,
    ChatRequest,
    Item,
    PromptTemplate,
    Reasoner,
    markdown,
    pct,
    prompts,
)
from cascade.run import (
    CONFIG,
    RESULTS,
    Answerer,
    AnswerRecord,
    ComponentSpec,
    Counts,
    RunDir,
    answer,
    executor_by_name,
    format_choices,
    plan,
)
from cascade.run import config as configs
from cascade.scoring import OFFICIAL, ItemResult, mean_interval, score_answer

SAMPLES = 5
PROMPT = "judge_rubric"
LABEL = "ungated reasoning-quality diagnostic (not MMAR-Rubrics)"
PROTOCOL = "ungated"
_POINT = re.compile(
    r"^[\s>*_#-]*POINT\s*#?\s*(\d+)\s*[*_]*\s*[:=\-]\s*[*_]*\s*(-?\d+(?:\.\d+)?)",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class RubricPoint:
    name: str
    scoring_point: str
    note: str
    choices: tuple[int, ...]


def rubric_of(item: Item) -> list[RubricPoint]:
    """The item's rubric from its metadata (empty when it has none)."""
    raw = item.meta.get("rubric") or []
    points = []
    for entry in raw:
        if not isinstance(entry, Mapping):
            continue
        choices = tuple(int(c) for c in entry.get("choices") or (0, 1))
        points.append(
            RubricPoint(
                name=str(entry.get("name") or ""),
                scoring_point=str(entry.get("scoring_point") or ""),
                note=str(entry.get("note") or ""),
                choices=choices,
            )
        )
    return points


def render_rubric(points: Sequence[RubricPoint]) -> str:
    lines = []
    for number, point in enumerate(points, start=1):
        scores = " or ".join(str(c) for c in point.choices)
        note = f" ({point.note})" if point.note else ""
        lines.append(f"{number}. {point.name}: {point.scoring_point}{note} Score: {scores}.")
    return "\n".join(lines)


def response_text(result: ItemResult) -> str:
    """What the judge reads of the run's answer: its reasoning trace, then its final answer."""
    parts = []
    if result.reasoning.strip():
        parts.append(f"Reasoning:\n{result.reasoning.strip()}")
    parts.append(f"Final answer:\n{(result.raw_answer or '').strip()}")
    return "\n\n".join(parts)


def judge_request(
    item: Item, result: ItemResult, template: PromptTemplate, sample: int
) -> ChatRequest:
    points = rubric_of(item)
    values = {
        "question": item.question,
        "choices": format_choices(item.choices),
        "answer": item.answer,
        "reference": str(item.meta.get("thinking") or "(none)").strip(),
        "rubric": render_rubric(points),
        "count": str(len(points)),
        "response": response_text(result).replace("</response>", "[/response]"),
    }
    messages = template.render(**{k: values[k] for k in template.placeholders})
    return ChatRequest(item_id=item.id, messages=messages, sample_index=sample)


@dataclass(frozen=True)
class Parsed:
    """One judge reply read: the score per point, or why it could not be read."""

    scores: tuple[int, ...] | None
    problem: str | None = None


def parse_scores(text: str, points: Sequence[RubricPoint]) -> Parsed:
    """The judge's `POINT n: score` lines (the last line per point wins), checked against the
    rubric: every point present, no other point, every score one of the point's choices."""
    found: dict[int, str] = {}
    for match in _POINT.finditer(text):
        found[int(match.group(1))] = match.group(2)
    if not found:
        return Parsed(None, "no `POINT n: score` lines")
    extra = sorted(n for n in found if not 1 <= n <= len(points))
    if extra:
        return Parsed(None, f"point(s) {extra} are not in the rubric of {len(points)} points")
    missing = [n for n in range(1, len(points) + 1) if n not in found]
    if missing:
        return Parsed(None, f"no score for point(s) {missing}")
    scores = []
    for number, point in enumerate(points, start=1):
        value = float(found[number])
        if not value.is_integer() or int(value) not in point.choices:
            return Parsed(
                None, f"point {number} scored {found[number]}, not one of {point.choices}"
            )
        scores.append(int(value))
    return Parsed(tuple(scores))


def middle_mean(totals: Sequence[float]) -> float:
    """The mean of the totals without the lowest and the highest (MMAR: middle three of five)."""
    if len(totals) < 3:
        raise ValueError(f"a trimmed mean needs at least three totals, got {len(totals)}")
    ordered = sorted(totals)
    middle = ordered[1:-1]
    return sum(middle) / len(middle)


@dataclass
class ItemJudgement:
    id: str
    status: str
    """`scored`, `unparsed` (a judge reply could not be read), `judge-error` (the judge call
    failed), `no-answer` (the run has no answer: scores 0) or `no-rubric` (not judged)."""
    max_points: int = 0
    score: float | None = None
    """The middle-three mean total over max_points, a fraction; None when not scored."""
    samples: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "max_points": self.max_points,
            "score": self.score,
            "samples": self.samples,
        }


UNJUDGED = ("judge-error", "unparsed")
"""Statuses of items the judge should have scored but did not (exit code 3)."""


def judge_items(
    items: Sequence[Item],
    results: Mapping[str, Mapping[str, Any]],
    reasoner: Reasoner,
    template: PromptTemplate,
    cache: Cache,
    *,
    samples: int = SAMPLES,
    batch_size: int = 16,
    counts: Counts | None = None,
    answerer: Answerer = answer,
) -> list[ItemJudgement]:
    """Judge every item that has a rubric and a result, `samples` judge calls each."""
    counts = counts or Counts()
    judged: list[ItemJudgement] = []
    todo: list[tuple[Item, ItemResult, ItemJudgement]] = []
    for item in items:
        if item.id not in results:
            continue
        points = rubric_of(item)
        judgement = ItemJudgement(item.id, "no-rubric", sum(max(p.choices) for p in points))
        judged.append(judgement)
        if not points:
            continue
        result = ItemResult.from_json(results[item.id])
        if result.raw_answer is None:
            judgement.status, judgement.score = "no-answer", 0.0
            continue
        todo.append((item, result, judgement))
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        requests = [judge_request(i, r, template, k) for i, r, _ in batch for k in range(samples)]
        records = answerer(requests, reasoner, cache, counts)
        for index, (item, _, judgement) in enumerate(batch):
            mine = records[index * samples : (index + 1) * samples]
            _settle(judgement, rubric_of(item), mine)
    return judged


def _settle(
    judgement: ItemJudgement, points: Sequence[RubricPoint], records: Sequence[AnswerRecord]
) -> None:
    totals: list[int] = []
    problems = []
    for record in records:
        response = record.response
        sample: dict[str, Any] = {
            "sample": record.request.sample_index,
            "key": record.key,
            "cached": record.cached,
            "text": response.text,
        }
        if not response.ok:
            sample["error"] = response.error
            problems.append("judge-error")
        else:
            parsed = parse_scores(response.text, points)
            sample["scores"] = list(parsed.scores) if parsed.scores is not None else None
            sample["problem"] = parsed.problem
            if parsed.scores is None:
                problems.append("unparsed")
            else:
                totals.append(sum(parsed.scores))
        judgement.samples.append(sample)
    if problems:
        judgement.status = "judge-error" if "judge-error" in problems else "unparsed"
        return
    judgement.status = "scored"
    judgement.score = middle_mean(totals) / judgement.max_points if judgement.max_points else 0.0


def rubric_table(
    items: Sequence[Item],
    results: Mapping[str, Mapping[str, Any]],
    judged: Sequence[ItemJudgement],
    by: Sequence[str] = ("modality", "category"),
) -> pd.DataFrame:
    """Rubric score (mean, 95% interval) beside official accuracy, overall and per group, on the
    items that have a rubric score."""
    scored: dict[str, float] = {j.id: j.score for j in judged if j.score is not None}
    lookup = {i.id: i for i in items}
    groups: list[tuple[str, list[str]]] = [("all", list(scored))]
    for key in by:
        values: dict[str, list[str]] = {}
        for item_id in scored:
            values.setdefault(lookup[item_id].groups[key], []).append(item_id)
        groups += [(f"{key}={v}", ids) for v, ids in sorted(values.items())]
    rows = []
    for name, ids in groups:
        if not ids:
            continue
        rubric = [scored[i] for i in ids]
        correct = [
            score_answer(lookup[i], ItemResult.from_json(results[i])).correct[OFFICIAL.name]
            for i in ids
        ]
        low, high = mean_interval(rubric)
        rows.append(
            {
                "group": name,
                "n": len(ids),
                "rubric": sum(rubric) / len(rubric),
                "rubric_ci_low": low,
                "rubric_ci_high": high,
                "accuracy": sum(correct) / len(correct),
            }
        )
    return pd.DataFrame(rows)


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The rubric table formatted for reading (percentages with intervals)."""
    if table.empty:
        return table
    return pd.DataFrame(
        {
            "group": table["group"],
            "n": table["n"],
            "rubric % [95% CI]": [
                f"{pct(r)} [{pct(lo)}, {pct(hi)}]"
                for r, lo, hi in zip(
                    table["rubric"], table["rubric_ci_low"], table["rubric_ci_high"], strict=True
                )
            ],
            "accuracy % (official)": [pct(a) for a in table["accuracy"]],
        }
    )


def render_markdown(
    name: str, judge: str, table: pd.DataFrame, judged: Sequence[ItemJudgement]
) -> str:

    shown = display_table(table)
    status: dict[str, list[str]] = {}
    for j in judged:
        status.setdefault(j.status, []).append(j.id)
    lines = [
        f"# {LABEL[0].upper()}{LABEL[1:]}: {name}, judged by {judge}",
        "",
        f"{SAMPLES} judge samples per item; the middle three totals averaged, over the item's "
        "maximum. Items the run failed to answer score 0; items with an unreadable judge reply "
        "or a failed judge call have no score and are listed below. Intervals: t, 95%.",
        "",
        "Items: " + "; ".join(f"{k} {len(v)}" for k, v in sorted(status.items())),
        "",
        markdown(shown),
    ]
    for kind in ("unparsed", "judge-error"):
        if status.get(kind):
            lines += [f"## Not scored ({kind})", "", ", ".join(status[kind]), ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class JudgeResult:
    judged: list[ItemJudgement]
    table: pd.DataFrame
    files: dict[str, Path]
    counts: Counts


def load_run(run_dir: Path) -> tuple[Any, list[Item], dict[str, dict[str, Any]]]:
    """A finished run's resolved config, its benchmark items (with metadata) and its results."""

    run = RunDir(run_dir)
    run.require(CONFIG, RESULTS)
    config = run.config()
    return config, run.items(config), run.results()


def judge_spec(judge: str, overrides: Sequence[str] = ()) -> ComponentSpec:
    """The reasoner preset (or registered backend) `judge`, with `key=value` overrides."""
    data = configs.component_spec(judge, "reasoners")
    configs.apply_overrides(data, overrides)
    return configs.validate({"reasoner": data}, source=f"judge {judge}").reasoner


def build_judge(config: Any, spec: ComponentSpec) -> Reasoner:
    """The judge `spec` (`judge_spec`), built with the run's runtime settings."""
    return plan.build_reasoner(config.model_copy(update={"reasoner": spec}))


def judge_answerer(
    config: Any, spec: ComponentSpec | None, executor: str | None = None
) -> tuple[Answerer, int]:
    """How the judge's calls are made, and how many at a time: by the executor `executor`
    names (the run's `run.executor` unless given), with a pool of the judge (`spec`) where
    the executor has one (Ray: every call at once). A judge given as a built component runs
    locally, `run.batch_size` at a time."""
    if spec is None:
        return answer, config.run.batch_size
    return executor_by_name(executor or config.run.executor).answerer(spec, config.run)


def judge_run(
    run_dir: Path,
    judge: str,
    *,
    reasoner: Reasoner | None = None,
    samples: int = SAMPLES,
    prompt: str = PROMPT,
    overrides: Sequence[str] = (),
    cache_dir: Path | None = None,
    executor: str | None = None,
) -> JudgeResult:
    """Judge a run directory with a reasoner preset (or registered backend) and write
    judge-<name>.json, .md and .csv into it. The run's page, which shows the rubric scores
    beside accuracy, is the report layer's to rewrite (`cascade.commands.judge` does both).

    `overrides` are `key=value` settings of the judge's spec (`config.temperature=0.7`);
    `executor` runs the judge locally or on Ray whatever the run used.
    """

    config, items, results = load_run(run_dir)
    cache = Cache(cache_dir or config.cache_dir)
    cache.check_writable()
    spec = None
    if reasoner is None:
        spec = judge_spec(judge, overrides)
        reasoner = build_judge(config, spec)
    answerer, batch_size = judge_answerer(config, spec, executor)
    template = prompts.load(prompt)
    counts = Counts()
    try:
        judged = judge_items(
            items,
            results,
            reasoner,
            template,
            cache,
            samples=samples,
            batch_size=batch_size,
            counts=counts,
            answerer=answerer,
        )
    finally:
        reasoner.close()
    table = rubric_table(items, results, judged)
    record = {
        "run": config.name,
        "judge": judge,
        "protocol": PROTOCOL,
        "label": f"{LABEL}, judge {judge}",
        "judge_identity": reasoner.identity.to_json(),
        "prompt": f"{template.name} v{template.version}",
        "samples": samples,
        "calls": {"computed": counts.computed, "reused": counts.reused, "failed": counts.failed},
        "groups": table.to_dict("records"),
        "items": [j.to_json() for j in judged],
    }
    files = RunDir(run_dir).write_judge(
        judge, record, render_markdown(config.name, judge, table, judged), table.to_csv(index=False)
    )
    return JudgeResult(judged, table, files, counts)
