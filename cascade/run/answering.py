"""Render the answering prompt for an item and get the reasoner's answers, cache first."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cascade.core import (
    Cache,
    ChatRequest,
    Item,
    PromptTemplate,
    Reasoner,
    ReasonerResponse,
    messages_hash,
    reasoner_key,
)
from cascade.run.isolation import Counts, run_isolated
from cascade.scoring import option_letters


def format_choices(choices: Sequence[str]) -> str:
    """ "(A) first\\n(B) second…", with as many letters as the item has choices."""
    return "\n".join(
        f"({letter}) {text}"
        for letter, text in zip(option_letters(len(choices)), choices, strict=True)
    )


def letters_phrase(n: int) -> str:
    """ "A or B", "A, B, C or D"."""
    letters = option_letters(n)
    return f"{', '.join(letters[:-1])} or {letters[-1]}"


def render_request(
    item: Item, description: str, template: PromptTemplate, sample_index: int = 0
) -> ChatRequest:
    """The chat request for one item; the template takes whichever placeholders it declares."""
    values = {
        "description": description,
        "question": item.question,
        "choices": format_choices(item.choices),
        "letters": letters_phrase(len(item.choices)),
    }
    messages = template.render(**{k: values[k] for k in template.placeholders if k in values})
    return ChatRequest(item_id=item.id, messages=messages, sample_index=sample_index)


@dataclass(frozen=True)
class AnswerRecord:
    request: ChatRequest
    response: ReasonerResponse
    key: str
    prompt_hash: str
    cached: bool


def cacheable(response: ReasonerResponse) -> bool:
    """Whether a response is stored: every answer, a length stop included (flagged, and INVALID
    under strict and lenient): the token budget is part of the reasoner's identity, so the same
    request at the same budget stops at the same place, and these are the dearest requests. A
    length stop whose budget went on reasoning alone (no final text) is stored with its trace.
    An agent's turn that only calls tools is stored too (its calls are its output). Never an
    error, nor an empty answer (no text, no calls, and no reasoning either)."""
    if not response.ok:
        return False
    return bool(
        response.text.strip()
        or response.tool_calls
        or (response.truncated and response.reasoning.strip())
    )


AGENT_STOPS = ("budget", "context")
"""Finish reasons of an agent's item that ended without an answer text: its step budget spent
while it still called tools, or its conversation past the model's context. Each is an INVALID
answer (empty, never guessed), kept on resume like a truncated one."""


def has_answer(text: str | None, finish_reason: str | None) -> bool:
    """Whether a stored final answer is an answer: some text, or a length stop (a truncated
    answer is the model's own output, scored as the truncation policy says, not a failure), or
    an agent's INVALID ending (`AGENT_STOPS`)."""
    return text is not None and (
        bool(text.strip()) or finish_reason == "length" or finish_reason in AGENT_STOPS
    )


def answered(result: Mapping[str, Any]) -> bool:
    """Whether a stored result (a result line, or a predictions-file entry) holds an answer: no
    error and a non-empty answer (an empty answer written by an older run is none, so that
    resuming retries it)."""
    return result.get("error") is None and has_answer(
        result.get("raw_answer"), result.get("finish_reason")
    )


def pending_samples(
    item: Item, previous: Mapping[str, Mapping[int, Mapping[str, Any]]], samples: int
) -> list[int]:
    """The samples of an item with no answer yet in the run directory (absent, failed or
    empty): the run loop's own rule for what it retries."""
    mine = previous.get(item.id, {})
    return [s for s in range(samples) if s not in mine or not answered(mine[s])]


EMPTY_ANSWER = "empty answer: the reasoner returned no text"


def _refuse_empty(response: ReasonerResponse) -> ReasonerResponse:
    """An empty (or whitespace) answer that did not stop at the length limit is a failure:
    a server that returns nothing must not be scored, cached or kept on resume as an answer."""
    if (
        response.ok
        and not response.tool_calls  # an agent's turn that only calls tools says nothing else
        and not has_answer(response.text, response.finish_reason)
    ):
        reason = f"{EMPTY_ANSWER} (finish reason {response.finish_reason!r})"
        return replace(response, text="", error=reason)
    return response


def generate_isolated(
    reasoner: Reasoner, requests: Sequence[ChatRequest]
) -> list[ReasonerResponse]:
    """The reasoner's responses; a batch that raises is retried request by request."""

    def mismatch(asked: Sequence[ChatRequest], responses: Sequence[ReasonerResponse]) -> str | None:
        if len(responses) == len(asked):
            return None
        return (
            f"reasoner {reasoner.name!r} returned {len(responses)} responses for "
            f"{len(asked)} requests"
        )

    return run_isolated(
        reasoner.generate,
        requests,
        mismatch=mismatch,
        failed=lambda _, message, seconds: ReasonerResponse.failed(message, seconds),
    )


Answerer = Callable[[Sequence[ChatRequest], Reasoner, Cache, Counts], list[AnswerRecord]]
"""`answer`'s signature: answers from the cache, the rest generated as an executor generates
them (`Executor.answerer`)."""

Generate = Callable[
    [Reasoner, Sequence[ChatRequest], Counts], Iterable[tuple[int, ReasonerResponse]]
]
"""How the requests missing from the cache are generated: (request number, response) for every
request, in any order, as they come (each is settled, and so cached, on arrival); their model
time added to the counts."""


def generate_here(
    reasoner: Reasoner, requests: Sequence[ChatRequest], counts: Counts
) -> Iterable[tuple[int, ReasonerResponse]]:
    """The requests generated in this process, in one batch (`generate_isolated`)."""
    started = time.perf_counter()
    generated = generate_isolated(reasoner, requests)
    counts.model_seconds += time.perf_counter() - started
    return enumerate(generated)


def look_up(
    requests: Sequence[ChatRequest], reasoner: Reasoner, cache: Cache, counts: Counts
) -> tuple[dict[int, AnswerRecord], list[tuple[int, ChatRequest, str]]]:
    """The cached answers by request index; (index, request, key) of those to generate."""
    identity = reasoner.identity
    namespace = f"reasoners/{identity.name}"
    found: dict[int, AnswerRecord] = {}
    missing: list[tuple[int, ChatRequest, str]] = []
    for index, request in enumerate(requests):
        key = reasoner_key(request.messages, identity, request.sample_index, request.tools)
        hit = cache.get(namespace, key)
        if hit is not None:
            response = ReasonerResponse.from_json(hit["response"])
            found[index] = AnswerRecord(
                request, response, key, messages_hash(request.messages), True
            )
            counts.tally(True, reused=True)
        else:
            missing.append((index, request, key))
    return found, missing


def settle(
    request: ChatRequest,
    key: str,
    generated: ReasonerResponse,
    reasoner: Reasoner,
    cache: Cache,
    counts: Counts,
) -> AnswerRecord:
    """A generated response as the run keeps it: an empty answer made a failure, a complete one
    stored in the cache, and counted."""
    response = _refuse_empty(generated)
    identity = reasoner.identity
    if cacheable(response):
        cache.put(
            f"reasoners/{identity.name}",
            key,
            {
                "response": response.to_json(),
                "request": request.to_json(),
                "identity": identity.to_json(),
            },
        )
    counts.tally(response.ok)
    return AnswerRecord(request, response, key, messages_hash(request.messages), False)


def reuse(owner: AnswerRecord, request: ChatRequest, counts: Counts) -> AnswerRecord:
    """Another run's answer to the same request (a sweep's variation that changes nothing the
    prompt shows), as that run would have had it from the cache: re-used when it was kept,
    else counted as its own (a failure, or an answer the cache does not keep)."""
    kept = cacheable(owner.response)
    counts.tally(owner.response.ok, reused=kept)
    return replace(owner, request=request, cached=kept)


def answer(
    requests: Sequence[ChatRequest],
    reasoner: Reasoner,
    cache: Cache,
    counts: Counts,
    *,
    generate: Generate = generate_here,
) -> list[AnswerRecord]:
    """One answer per request, in order: cached answers re-used, the rest generated (in this
    process unless `generate` says otherwise) and settled."""
    found, missing = look_up(requests, reasoner, cache, counts)
    if missing:
        for number, response in generate(reasoner, [r for _, r, _ in missing], counts):
            index, request, key = missing[number]
            found[index] = settle(request, key, response, reasoner, cache, counts)
    return [found[i] for i in range(len(requests))]
