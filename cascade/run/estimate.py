"""What a run will ask of its front-end and its reasoner, worked out before it runs from the
cache and the run directory alone: outputs cached and to compute per stage, reasoner requests
cached and new, tokens, and the worst-case cost at a known price. Loads no model.

A reasoner request is known exactly when every front-end output its prompt shows is cached (or
the description needs none); then its cache entry says whether it is new. Where the front-end
must run first the prompt cannot be known: those requests are "at most" new, and their input
tokens are estimated (the mean of the known prompts, else the prompt with an empty description
plus the captioners' output budgets). Output tokens are counted at the reasoner's budget: the
worst case. Tokens are counted with the model's own tokenizer when it is on this machine
(`Reasoner.token_counter`), else as characters / 4, and the estimate says which.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from cascade.core import (
    Cache,
    CascadeError,
    ChatRequest,
    Item,
    Reasoner,
    StageOutput,
    prices,
    reasoner_key,
    stage_key,
)
from cascade.run.answering import render_request
from cascade.run.config import RunConfig
from cascade.run.frontend import Stage
from cascade.run.plan import Prompts
from cascade.run.variations import Perturbation

CHARS_PER_TOKEN = 4
APPROXIMATION = f"approximation: characters / {CHARS_PER_TOKEN}"


@dataclass(frozen=True)
class StageEstimate:
    """One front-end stage over the items still to answer."""

    label: str
    component: str
    backend: str | None
    device: str | None
    cached: int
    to_compute: int
    exact: bool
    """False when the clips it hears are an ablation's substitutes, not yet made: every output
    not found is counted as to compute."""


@dataclass(frozen=True)
class ReasonerEstimate:
    """The reasoner's requests for the items still to answer, their tokens and worst cost."""

    component: str
    model: str | None
    priced_as: str
    """The name the price table is read by (`price_model`)."""
    requests: int
    cached: int
    new: int
    """Requests whose prompt is known and not in the cache."""
    at_most_new: int
    """Requests whose prompt needs front-end outputs not computed yet (new unless that output
    turns out to equal a cached one)."""
    max_tokens: int | None
    input_tokens: int
    """Of the new and at-most-new requests (the known ones counted, the others estimated)."""
    input_tokens_known: bool
    output_tokens_worst: int | None
    tokens_counted_by: str
    input_note: str | None
    price: dict[str, Any] | None
    batch: bool
    cost_usd_worst: float | None
    cost_note: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Estimate:
    items: int
    answered: int
    """Items the run directory answers already (a resumed run does not touch them)."""
    to_answer: int
    stages: list[StageEstimate] = field(default_factory=list)
    reasoner: ReasonerEstimate | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def token_counter(reasoner: Reasoner) -> tuple[Callable[[str], int], str]:
    """How tokens are counted for `reasoner`, and the words that say so."""
    counter = reasoner.token_counter()
    if counter is not None:
        return counter, f"the model's own tokenizer ({_model(reasoner) or reasoner.name})"
    return (lambda text: math.ceil(len(text) / CHARS_PER_TOKEN)), APPROXIMATION


def price_model(reasoner: Reasoner) -> str:
    """The name a reasoner's price goes by: its model, else its component name."""
    return _model(reasoner) or reasoner.name


def price_for(config: RunConfig, model: str) -> prices.Price | None:
    """The price of the run's reasoner `model`: `run.price`, else `run.prices_file`'s entry,
    else the table's."""
    if config.run.price is not None:
        return prices.parse(model, config.run.price, "run.price")
    return prices.price_of(model, file=config.run.prices_file)


def _model(reasoner: Reasoner) -> str | None:
    model = getattr(reasoner.config, "model", None)
    return str(model) if model else None


def estimate(
    config: RunConfig,
    items: Sequence[Item],
    pending: dict[str, list[int]],
    stages: Sequence[Stage],
    reasoner: Reasoner,
    prompts: Prompts,
    cache: Cache,
) -> Estimate:
    """The work of a run whose items still to answer are `pending` (item id -> samples)."""
    todo = [i for i in items if pending.get(i.id)]
    perturbation = Perturbation(config, items, cache.root)
    own_audio = config.audio.replace in ("none", "shuffle") and config.audio.snr_db is None
    outputs: dict[str, list[StageOutput]] = {i.id: [] for i in todo}
    hashes = _hashes(todo, perturbation, cache) if own_audio else {}
    stage_estimates = []
    for stage in stages:
        identity = stage.component.identity
        cached = 0
        for item in todo:
            found = None
            if item.id in hashes:
                conditioning = (
                    {"question": item.question, "choices": list(item.choices)}
                    if stage.component.conditions_on_question
                    else None
                )
                key = stage_key(hashes[item.id], identity, conditioning)
                found = cache.get(f"stages/{identity.name}", key)
            if found is not None:
                cached += 1
                outputs[item.id].append(
                    StageOutput.from_json(found | {"item_id": item.id, "stage": stage.label})
                )
        runtime = stage.component.runtime
        stage_estimates.append(
            StageEstimate(
                label=stage.label,
                component=stage.component.name,
                backend=getattr(runtime, "backend", None),
                device=getattr(runtime, "device", None),
                cached=cached,
                to_compute=len(todo) - cached,
                exact=own_audio,
            )
        )
    known = [
        i for i in todo if len(outputs[i.id]) == len(stages) and all(o.ok for o in outputs[i.id])
    ]
    answered = sum(1 for i in items if not pending.get(i.id))
    return Estimate(
        items=len(items),
        answered=answered,
        to_answer=len(todo),
        stages=stage_estimates,
        reasoner=_reasoner(
            config, todo, known, outputs, pending, perturbation, stages, reasoner, prompts, cache
        ),
    )


def _hashes(items: Sequence[Item], perturbation: Perturbation, cache: Cache) -> dict[str, str]:
    """The content hash of each clip the front-end would hear (items without one left out)."""
    hashes = {}
    for item in items:
        path = perturbation.audio(item, make=False)
        if path is not None and path.is_file():
            try:
                hashes[item.id] = cache.audio_hash(path)
            except OSError:
                continue  # unreadable: the run fails the item; here its outputs count as to do
    return hashes


def _reasoner(
    config: RunConfig,
    todo: Sequence[Item],
    known: Sequence[Item],
    outputs: dict[str, list[StageOutput]],
    pending: dict[str, list[int]],
    perturbation: Perturbation,
    stages: Sequence[Stage],
    reasoner: Reasoner,
    prompts: Prompts,
    cache: Cache,
) -> ReasonerEstimate:
    count, counted_by = token_counter(reasoner)
    identity = reasoner.identity
    namespace = f"reasoners/{identity.name}"
    cached = new = 0
    new_tokens = 0
    known_prompt_tokens: list[int] = []
    known_ids = set()
    for item in known:
        try:
            request = render_request(
                item,
                perturbation.describe(item, outputs[item.id], prompts.description),
                prompts.answer,
            )
        except CascadeError:
            continue  # the run fails this item at its prompt: no request is made
        known_ids.add(item.id)
        tokens = _tokens(request, count)
        known_prompt_tokens.append(tokens)
        for sample in pending[item.id]:
            if cache.get(namespace, reasoner_key(request.messages, identity, sample)) is None:
                new += 1
                new_tokens += tokens
            else:
                cached += 1
    unknown = [i for i in todo if i.id not in known_ids]
    at_most = sum(len(pending[i.id]) for i in unknown)
    per_unknown, note = _unknown_prompt_tokens(unknown, known_prompt_tokens, stages, prompts, count)
    input_tokens = new_tokens + per_unknown * at_most
    max_tokens = getattr(reasoner.config, "max_tokens", None)
    worst = (new + at_most) * max_tokens if isinstance(max_tokens, int) else None
    price = price_for(config, price_model(reasoner))
    batch = bool(getattr(reasoner.runtime, "batch_api", False))
    cost, cost_note = _cost(price, input_tokens, worst, batch, price_model(reasoner))
    return ReasonerEstimate(
        component=reasoner.name,
        model=_model(reasoner),
        priced_as=price_model(reasoner),
        requests=cached + new + at_most,
        cached=cached,
        new=new,
        at_most_new=at_most,
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        input_tokens=input_tokens,
        input_tokens_known=at_most == 0,
        output_tokens_worst=worst,
        tokens_counted_by=counted_by,
        input_note=note,
        price=price.to_json() if price is not None else None,
        batch=batch,
        cost_usd_worst=cost,
        cost_note=cost_note,
    )


def _tokens(request: ChatRequest, count: Callable[[str], int]) -> int:
    """The tokens of a request's messages (their text; a chat template adds a few per message)."""
    return sum(count(m.content) for m in request.messages)


def _unknown_prompt_tokens(
    unknown: Sequence[Item],
    known_tokens: Sequence[int],
    stages: Sequence[Stage],
    prompts: Prompts,
    count: Callable[[str], int],
) -> tuple[int, str | None]:
    """The input tokens counted for a request whose description is not known yet, and how."""
    if not unknown:
        return 0, None
    if known_tokens:
        mean = round(sum(known_tokens) / len(known_tokens))
        return mean, (
            f"{len(unknown)} prompts need front-end outputs not computed yet: each counted at "
            f"the mean of the {len(known_tokens)} known prompts ({mean} tokens)"
        )
    empty = [_tokens(render_request(i, "", prompts.answer), count) for i in unknown]
    budgets = {
        s.label: n
        for s in stages
        if isinstance(n := getattr(s.component.config, "max_new_tokens", None), int)
    }
    mean = round(sum(empty) / len(empty)) + sum(budgets.values())
    without = [s.label for s in stages if s.label not in budgets]
    said = ", ".join(f"{label} {n}" for label, n in budgets.items()) or "none"
    return mean, (
        "no prompt is known yet: each counted as its question and choices plus the captioners' "
        f"output budgets ({said})"
        + (f"; {', '.join(without)} have no budget and are not counted" if without else "")
    )


def _cost(
    price: prices.Price | None, input_tokens: int, worst: int | None, batch: bool, model: str
) -> tuple[float | None, str]:
    if price is None:
        return None, (
            f"no price known for {model!r}: set one with --set run.price=INPUT,OUTPUT "
            "(dollars per million tokens) or a prices file (--set run.prices_file=FILE)"
        )
    if worst is None:
        return None, "the reasoner has no output-token budget: no worst case"
    dollars = price.cost(input_tokens, worst, batch=batch)
    how = " (Batch API discount applied)" if batch and price.batch_discount else ""
    return round(dollars, 4), (
        f"worst case: every new request writes its whole budget{how}; price from {price.source}"
    )
