"""MMAR-Rubrics of a run or of any predictions file, judged as MMAR's official script judges.

The rules (gate, request, reply reading, item score, totals) are `cascade.scoring.rubrics`;
this module asks the judge: every item that passes the gate gets five raters, one after the
other, each asked up to 20 times until its reply is valid (a transient error, a rate limit, an
empty or invalid reply spends an attempt; any other HTTP error gives up on the item at once).
An item whose judging fails is *not evaluated*: left out of the totals and listed with the
reason. Items are judged concurrently (80 at a time) under the protocol's request rate
(`rate_limit.AdaptiveRate`, the official judge only).

Output: one line per evaluated item, appended as soon as it is judged, in the official script's
output format (the record, `new`, `score`, `correct`, `raw_responses`) plus the raters' scores and
justifications and the judge's name. Items already in the output are kept and not judged again
(as the script keeps its output file), so the same command again judges only the rest. A valid
reply is cached by request, rater and attempt; an invalid one is never stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cascade.analysis.rate_limit import AdaptiveRate
from cascade.analysis.rubrics_judges import Call, Judge, Outcome
from cascade.core import Cache, CascadeError, ConfigError, ExitCode
from cascade.run import ComponentSpec
from cascade.scoring import rubrics
from cascade.scoring.rubrics import InvalidReply, Protocol, Reading, Totals

NAMESPACE = "judges/mmar-rubrics"
PROTOCOLS = ("mmar-rubrics", "ungated")
ProtocolName = Literal["mmar-rubrics", "ungated"]
OUTPUT_KEYS = ("new", "score", "correct", "raw_responses")
"""Keys the official script adds to an evaluated record (with REQUIRED_KEYS: a kept line)."""


@dataclass(frozen=True)
class Settings:
    """How the judge is asked: the official script's API options, and a budget."""

    retries: int = 20
    """Attempts per rater (the protocol's 20)."""
    retry_interval_s: float = 1.0
    """Pause after an invalid reply."""
    max_workers: int = 80
    """Items judged at once."""
    qps: float = 8.0
    """Base request rate of the official judge (halved on a rate limit, down to 1/16)."""
    timeout_s: float = 120.0
    """Per-request timeout of the official judge."""
    max_calls: int | None = None
    """Stop before making more judge calls than this (cached replies are free)."""


def label(judge: str, official: bool) -> str:
    """What a number made by this judge is called."""
    if official:
        return "MMAR-Rubrics"
    return f"MMAR-Rubrics protocol, judge {judge} (not the official judge)"


class JudgeStopped(CascadeError):
    """The judge refused the key or the quota is exhausted: nothing more can be judged."""

    exit_code = ExitCode.ERROR


class CallBudgetReached(CascadeError):
    """`--max-calls` reached: the command stops; the same command (with a larger budget) goes on."""

    exit_code = ExitCode.STOPPED


class _NotEvaluated(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class CallCounts:
    made: int = 0
    reused: int = 0
    invalid: int = 0
    rate_limited: int = 0
    transient: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def to_json(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Judging:
    """The state of one `judge_records` call."""

    judge: Judge
    cache: Cache
    settings: Settings
    spec: Protocol
    limiter: AdaptiveRate
    counts: CallCounts = field(default_factory=CallCounts)


def _reply_key(
    judge: Judge, messages: Sequence[Mapping[str, str]], rater: int, attempt: int
) -> str:
    request = {
        "judge": judge.identity,
        "messages": list(messages),
        "rater": rater,
        "attempt": attempt,
    }
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


async def _rate(
    state: Judging,
    item_id: str,
    messages: tuple[Mapping[str, str], ...],
    rubric: Sequence[Mapping[str, Any]],
    rater: int,
) -> tuple[Reading, str]:
    """One rater's valid reply, asked up to `retries` times as the script asks."""
    judge, settings, counts = state.judge, state.settings, state.counts
    last = ""
    for attempt in range(1, settings.retries + 1):
        key = _reply_key(judge, messages, rater, attempt)
        cached = state.cache.get(NAMESPACE, key)
        if cached is not None:
            counts.reused += 1
            return rubrics.read_reply(cached["text"], rubric), cached["text"]
        if settings.max_calls is not None and counts.made >= settings.max_calls:
            raise CallBudgetReached(
                f"stopped before exceeding --max-calls {settings.max_calls}: the items judged "
                "so far are written; run the same command again (with a larger --max-calls) to "
                "judge the rest"
            )
        if judge.rate_limited:
            await state.limiter.acquire()
        counts.made += 1
        outcome: Outcome = await judge.ask(Call(item_id, messages, rater, attempt))
        if outcome.kind in ("transient", "rate"):
            state.limiter.slower()
            counts.transient += outcome.kind == "transient"
            counts.rate_limited += outcome.kind == "rate"
            last = outcome.detail
            continue
        if outcome.kind == "stop":
            raise JudgeStopped(outcome.detail)
        if outcome.kind == "failed":
            raise _NotEvaluated(f"rater {rater}: the judge call failed: {outcome.detail}")
        state.limiter.faster()
        counts.prompt_tokens += outcome.prompt_tokens or 0
        counts.completion_tokens += outcome.completion_tokens or 0
        if outcome.text is None:
            last = "an empty reply"
            continue
        try:
            reading = rubrics.read_reply(outcome.text, rubric)
        except InvalidReply as error:
            counts.invalid += 1
            last = f"an invalid reply ({error})"
            await asyncio.sleep(settings.retry_interval_s)
            continue
        state.cache.put(NAMESPACE, key, {"text": outcome.text})
        return reading, outcome.text
    raise _NotEvaluated(
        f"rater {rater}: no valid reply in {settings.retries} attempts (the last: {last})"
    )


async def _judge_record(state: Judging, record: Mapping[str, Any]) -> dict[str, Any]:
    """The record's output line: gated out (score 0, no call) or judged by five raters."""
    extra: dict[str, Any] = {"judge": state.judge.name}
    if not rubrics.passes_gate(record):
        return {
            **record,
            "new": True,
            "score": 0.0,
            "correct": False,
            "raw_responses": [],
            "rater_scores": [],
            "justifications": [],
            **extra,
        }
    messages = tuple(rubrics.messages(record, state.spec))
    scores: list[float] = []
    raw: list[str] = []
    justifications: list[list[str]] = []
    warnings: list[str] = []
    for rater in range(state.spec.raters):
        reading, text = await _rate(state, str(record["id"]), messages, record["rubric"], rater)
        scores.append(reading.score)
        raw.append(text)
        justifications.append(list(reading.justifications))
        warnings += [f"rater {rater}: {w}" for w in reading.warnings]
    return {
        **record,
        "new": True,
        "score": rubrics.trimmed_mean(scores),
        "correct": True,
        "raw_responses": raw,
        "rater_scores": scores,
        "justifications": justifications,
        "warnings": warnings,
        **extra,
    }


@dataclass(frozen=True)
class Judged:
    """What `judge_records` did."""

    new: list[dict[str, Any]]
    not_evaluated: dict[str, str]
    counts: CallCounts


async def _judge_all(
    state: Judging, records: Sequence[Mapping[str, Any]], write: Callable[[dict[str, Any]], None]
) -> Judged:
    workers = asyncio.Semaphore(state.settings.max_workers)
    new: list[dict[str, Any]] = []
    failed: dict[str, str] = {}

    async def one(record: Mapping[str, Any]) -> None:
        async with workers:
            try:
                line = await _judge_record(state, record)
            except _NotEvaluated as error:
                failed[str(record["id"])] = error.reason
                return
        write(line)
        new.append(line)

    tasks = [asyncio.create_task(one(r)) for r in records]
    try:
        for finished in asyncio.as_completed(tasks):
            await finished
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await state.judge.aclose()
    return Judged(new, failed, state.counts)


def judge_records(
    records: Sequence[Mapping[str, Any]],
    judge: Judge,
    cache: Cache,
    write: Callable[[dict[str, Any]], None],
    settings: Settings = Settings(),
) -> Judged:
    """Judge every record (each with REQUIRED_KEYS), `write` each output line as it is done.

    Raises:
        JudgeStopped: the judge refused the key or the quota (exit 1); lines written are kept.
        CallBudgetReached: `settings.max_calls` would be exceeded (exit 4).
    """
    spec = rubrics.protocol()
    state = Judging(judge, cache, settings, spec, AdaptiveRate(settings.qps))
    return asyncio.run(_judge_all(state, records, write))


# --- output files ------------------------------------------------------------------------------


def read_output(path: Path, judge: str) -> tuple[list[dict[str, Any]], list[str]]:
    """The lines already judged in an output file (first per id, those with every key the
    official script requires), and notes on lines that were left out.

    Raises:
        ConfigError: the file holds lines of another judge.
    """
    if not path.is_file():
        return [], []
    kept: list[dict[str, Any]] = []
    notes: list[str] = []
    seen: set[str] = set()
    needed = (*rubrics.REQUIRED_KEYS, *OUTPUT_KEYS)
    # JSON lines end at "\n" only: a string may hold U+2028 or a form feed, which
    # `splitlines` would cut at.
    for number, text in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
        if not text.strip():
            continue
        try:
            line = json.loads(text)
        except json.JSONDecodeError:
            notes.append(f"{path.name} line {number}: not JSON (cut off?), judged again")
            continue
        if not isinstance(line, dict) or any(k not in line for k in needed):
            notes.append(f"{path.name} line {number}: lacks the output keys, judged again")
            continue
        if line.get("judge", judge) != judge:
            raise ConfigError(
                f"{path} holds judgements by {line.get('judge')}, not {judge}: give another "
                "output file (--output) for this judge"
            )
        if line["id"] in seen:
            notes.append(f"{path.name} line {number}: item {line['id']} again; the first kept")
            continue
        seen.add(line["id"])
        kept.append(line)
    return kept, notes


def check_kept(
    kept: Sequence[Mapping[str, Any]], records: Mapping[str, Mapping[str, Any]], path: Path
) -> None:
    """A kept judgement must be of the prediction judged now: a changed prediction is an error,
    never a stale score."""
    for line in kept:
        record = records.get(line["id"])
        if record is None:
            continue
        for key in ("answer_prediction", "thinking_prediction"):
            if record.get(key) != line.get(key):
                raise ConfigError(
                    f"{path} holds a judgement of item {line['id']} made for another "
                    f"`{key}`: the predictions changed since. Delete {path} (or give another "
                    "--output) to judge them all again."
                )


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text)


def key_variable_set() -> bool:
    return bool(os.environ.get("OPENAI_API_KEY"))


def summary_json(
    *,
    name: str,
    judge: str,
    official: bool,
    totals: Totals,
    not_evaluated: Mapping[str, str],
    skipped: Mapping[str, list[str]],
    counts: CallCounts | None,
    notes: Sequence[str],
) -> dict[str, Any]:
    """The totals and what was left out, as written beside the output lines and shown."""
    from cascade.scoring import mean_interval

    def tally(t: rubrics.Tally) -> dict[str, Any]:
        low, high = mean_interval(t.scores) if t.scores else (0.0, 1.0)
        return {
            "n": t.total,
            "score": t.score,
            "accuracy": t.accuracy,
            "score_ci": [low * 100, high * 100],
        }

    return {
        "name": name,
        "protocol": "mmar-rubrics",
        "judge": judge,
        "official": official,
        "label": label(judge, official),
        "overall": tally(totals.overall),
        "groups": {
            table: {str(value): tally(t) for value, t in groups.items()}
            for table, groups in totals.groups.items()
        },
        "no_prediction_count": totals.no_prediction,
        "not_evaluated": dict(not_evaluated),
        "without_prediction": {k: list(v) for k, v in skipped.items()},
        "calls": counts.to_json() if counts is not None else None,
        "notes": list(notes),
    }


# --- a run or a predictions file ---------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """The records to judge, read with the benchmark's official-format reader."""

    name: str
    run_dir: Path | None
    records: list[dict[str, Any]]
    """Records with every key the protocol requires, in file order."""
    without_prediction: dict[str, list[str]]
    """Records the official script skips: id -> the required keys they lack."""
    read: int
    """How many records the file holds (the script's "No prediction count" counts from it)."""


def shipped_meta() -> dict[str, dict[str, Any]]:
    """MMAR's shipped metadata by id: the `--meta` every judged file is completed with."""
    from cascade.core import benchmark_by_name, read_records

    meta = benchmark_by_name("mmar").data_file("MMAR-meta.jsonl")
    return {str(r["id"]): dict(r) for r in read_records(meta)}


def read_source(path: Path) -> Source:
    """A run directory or a predictions file in MMAR's format, its fields completed from the
    shipped MMAR metadata by id (the metadata's fields win, as with the script's `--meta`).

    Raises:
        CascadeError: the path is neither, or no record can be judged.
    """
    from cascade.run import rescore

    scorable = rescore.load(path, meta=shipped_meta())
    records: list[dict[str, Any]] = []
    skipped: dict[str, list[str]] = {i: ["answer_prediction"] for i in scorable.missing_prediction}
    for item in scorable.items:
        record = dict(item.meta)
        lacking = rubrics.missing_keys(record)
        if lacking:
            skipped[item.id] = lacking
        else:
            records.append(record)
    if not records:
        lacks = sorted({k for v in skipped.values() for k in v})
        raise CascadeError(
            f"{path}: no item can be judged by MMAR-Rubrics: every item lacks one of "
            f"{', '.join(lacks)}. The protocol needs MMAR's items (their `thinking`, `cue` and "
            "`rubric` come from the shipped metadata by id) with `answer_prediction` and "
            "`thinking_prediction`."
        )
    run_dir = path if path.is_dir() else None
    return Source(
        scorable.name,
        run_dir,
        records,
        skipped,
        len(scorable.items) + len(scorable.missing_prediction),
    )


# --- the command's work --------------------------------------------------------------------------

TOKENS_PER_CHAR = 0.25
"""Prompt tokens estimated at four characters a token (English prose in GPT-4o's tokenizer)."""
REPLY_TOKENS_PER_POINT = 70
"""Reply tokens per rubric point: one JSON entry with a justification of under 50 words."""


@dataclass(frozen=True)
class Target:
    """Where one judging writes, and who judges."""

    source: Source
    judge_name: str
    official: bool
    output: Path
    summary: Path | None


def target(path: Path, judge: str | None, output: Path | None) -> Target:
    """The records of `path` and the files the judgements of `judge` (None: the official
    judge) go to: in a run directory `rubrics-<judge>.jsonl/.json`; beside a predictions file
    `<file>.evaluated.jsonl` (the official script's default name) or `.evaluated-<judge>.jsonl`."""
    from cascade.run import RunDir

    source = read_source(path)
    spec = rubrics.protocol()
    name = judge or spec.model
    official = judge is None
    if output is None and source.run_dir is not None:
        files = RunDir(source.run_dir).rubrics_files("official" if official else name)
        return Target(source, name, official, files["jsonl"], files["json"])
    suffix = ".evaluated.jsonl" if official else f".evaluated-{safe_name(name)}.jsonl"
    return Target(source, name, official, output or Path(f"{path}{suffix}"), None)


def pending(target: Target) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """(kept lines, records still to judge, notes): what the output already holds is kept."""
    kept, notes = read_output(target.output, target.judge_name)
    by_id = {str(r["id"]): r for r in target.source.records}
    check_kept(kept, by_id, target.output)
    done = {line["id"] for line in kept}
    return kept, [r for r in target.source.records if r["id"] not in done], notes


def priced_as(target: Target) -> str:
    """The name a judge's price goes by: the model it calls (a preset's `config.model`, as the
    run plan prices a reasoner), else its preset or backend name."""
    if target.official:
        return rubrics.protocol().model
    spec = judge_component(target.judge_name)
    model = spec.config.get("model") if spec is not None else None
    return str(model) if model else target.judge_name


def plan(target: Target, price: str | None = None) -> dict[str, Any]:
    """What judging will make: calls (five per item that passes the gate and is not judged
    yet), an estimate of the tokens and, at a known price, of the cost."""
    from cascade.core import prices

    spec = rubrics.protocol()
    kept, todo, _ = pending(target)
    gated = [r for r in todo if rubrics.passes_gate(r)]
    calls = len(gated) * spec.raters
    prompt_chars = sum(sum(len(m["content"]) for m in rubrics.messages(r, spec)) for r in gated)
    input_tokens = round(prompt_chars * TOKENS_PER_CHAR) * spec.raters
    output_tokens = sum(len(r["rubric"]) for r in gated) * REPLY_TOKENS_PER_POINT * spec.raters
    found = prices.price_of(priced_as(target), price)
    return {
        "label": label(target.judge_name, target.official),
        "judge": target.judge_name,
        "items": target.source.read,
        "without_prediction": len(target.source.without_prediction),
        "already_judged": len(kept),
        "wrong_answers_no_call": len(todo) - len(gated),
        "to_judge": len(gated),
        "calls": calls,
        "calls_note": "at least: an invalid reply, a rate limit or a timeout costs another call",
        "input_tokens_estimate": input_tokens,
        "output_tokens_estimate": output_tokens,
        "cost_usd_estimate": (
            round(found.cost(input_tokens, output_tokens), 2) if found is not None else None
        ),
        "price": (
            {
                "input_per_mtok": found.input_per_mtok,
                "output_per_mtok": found.output_per_mtok,
                "source": found.source,
            }
            if found is not None
            else "unknown: no cost shown (set one with --price INPUT,OUTPUT)"
        ),
        "output": str(target.output),
    }


@dataclass(frozen=True)
class RubricsResult:
    target: Target
    lines: list[dict[str, Any]]
    """Every evaluated line (kept and new), in the order of the records."""
    totals: Totals
    not_evaluated: dict[str, str]
    counts: CallCounts
    summary: dict[str, Any]
    notes: list[str]

    @property
    def label(self) -> str:
        return label(self.target.judge_name, self.target.official)


def evaluate(target: Target, judge: Judge, cache: Cache, settings: Settings) -> RubricsResult:
    """Judge what `target` still lacks, append each line to its output as it is judged, and
    write the totals (a run directory's `rubrics-*.json`).

    Raises:
        JudgeStopped, CallBudgetReached: after writing the totals of what was judged.
    """
    from cascade.core import write_atomic

    _kept, todo, notes = pending(target)
    target.output.parent.mkdir(parents=True, exist_ok=True)
    long = [
        str(r["id"])
        for r in todo
        if max(len(r["answer_prediction"]), len(r["thinking_prediction"]))
        >= rubrics.protocol().length_limit
    ]
    if long:
        notes.append(
            f"{len(long)} predictions are {rubrics.protocol().length_limit} characters or longer "
            f"(the official script warns and judges them whole): {', '.join(long[:5])}"
        )
    judged: Judged | None = None
    stop: CascadeError | None = None
    with target.output.open("a", encoding="utf-8") as out:

        def write(line: dict[str, Any]) -> None:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            out.flush()

        try:
            judged = judge_records(todo, judge, cache, write, settings)
        except (JudgeStopped, CallBudgetReached) as error:
            stop = error
    written, _ = read_output(target.output, target.judge_name)
    order = {str(r["id"]): n for n, r in enumerate(target.source.records)}
    lines = sorted(written, key=lambda line: order.get(str(line["id"]), len(order)))
    failed = dict(judged.not_evaluated) if judged is not None else {}
    if stop is not None:
        done = {str(line["id"]) for line in lines}
        failed.update({str(r["id"]): f"not judged: {stop}" for r in todo if r["id"] not in done})
    totals = rubrics.totals(lines, target.source.read)
    counts = judged.counts if judged is not None else CallCounts()
    summary = summary_json(
        name=target.source.name,
        judge=target.judge_name,
        official=target.official,
        totals=totals,
        not_evaluated=failed,
        skipped=target.source.without_prediction,
        counts=counts,
        notes=notes,
    )
    if target.summary is not None:
        write_atomic(target.summary, json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
    if stop is not None:
        raise stop
    return RubricsResult(target, lines, totals, failed, counts, summary, notes)


def judge_component(judge: str | None, overrides: Sequence[str] = ()) -> ComponentSpec | None:
    """The preset judge's validated spec (None: the official judge, whose settings are the
    protocol's). Called before any file is read, so that a bad setting (a secret given where a
    variable's name belongs) is refused first."""
    from cascade.analysis import judge as ungated

    if judge is None:
        if overrides:
            raise ConfigError(
                "--set changes a preset judge; the official judge's settings are the protocol's"
            )
        return None
    return ungated.judge_spec(judge, overrides)


def make_judge(
    target: Target,
    judge: str | None,
    settings: Settings,
    overrides: Sequence[str] = (),
    executor: str | None = None,
) -> Judge:
    """The official judge (`judge` None), or the reasoner preset `judge` run by the executor
    `judge_answerer` picks (the run's, or `executor`)."""
    from cascade.analysis import judge as ungated
    from cascade.analysis.rubrics_judges import OfficialJudge, PresetJudge
    from cascade.run import RunDir
    from cascade.run import config as configs

    spec = rubrics.protocol()
    component = judge_component(judge, overrides)
    if component is None or judge is None:
        return OfficialJudge(spec.model, spec.temperature, spec.seed, settings.timeout_s)
    if target.source.run_dir is not None:
        config = RunDir(target.source.run_dir).config()
    else:
        config = configs.validate(
            {"reasoner": component.model_dump(exclude_none=True)}, source=f"judge {judge}"
        )
    reasoner = ungated.build_judge(config, component)
    answerer, batch_size = ungated.judge_answerer(config, component, executor)
    return PresetJudge(judge, reasoner, answerer, min(batch_size, 4096), spec.attempts)
