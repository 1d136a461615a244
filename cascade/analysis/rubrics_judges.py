"""Who answers MMAR-Rubrics judge requests: the official judge, or a reasoner preset.

A judge turns one call (an item's request, by rater and attempt) into an outcome the protocol
acts on as the official script does: a reply (read, then accepted or asked again), a transient
error or a rate limit (asked again, the rate slowed), a failure (the item is not evaluated) or a
stop (a refused key or an exhausted quota: nothing else can succeed, so the command stops).

- `OfficialJudge`: OpenAI's `gpt-4o-2024-11-20` through the `openai` client, built and called as
  the official script builds and calls it (the client's own retries included, the key from
  OPENAI_API_KEY and the address from OPENAI_BASE_URL as the client reads them), so the requests
  are the script's, byte for byte.
- `PresetJudge`: any reasoner preset (`--judge PRESET`), through the executor's answerer; calls
  waiting at the same moment go as one batch. Its numbers are "MMAR-Rubrics protocol, judge X".
"""

from __future__ import annotations

import asyncio
import os
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from cascade.core import Cache, ChatMessage, ChatRequest, ConfigError, Reasoner, require
from cascade.run import Answerer, AnswerRecord, Counts

OutcomeKind = Literal["reply", "transient", "rate", "failed", "stop"]
Role = Literal["system", "user", "assistant"]
KEY_ENV = "OPENAI_API_KEY"


@dataclass(frozen=True)
class Call:
    """One judge call: an item's request for one rater (from 0, as the script counts them) and
    attempt (from 1)."""

    item_id: str
    messages: tuple[Mapping[str, str], ...]
    rater: int
    attempt: int


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    text: str | None = None
    """The reply's content (`reply`; None when the server sent none)."""
    detail: str = ""
    """What went wrong (every other kind)."""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Judge(ABC):
    """Answers judge calls; `name` labels its numbers, `identity` enters the reply cache key."""

    name: str
    official: bool
    rate_limited: bool
    """Whether its calls go through the protocol's request-rate limiter (the official judge's)."""

    @property
    @abstractmethod
    def identity(self) -> dict[str, Any]: ...

    @abstractmethod
    async def ask(self, call: Call) -> Outcome: ...

    async def aclose(self) -> None:
        return None


class OfficialJudge(Judge):
    """The official judge: OpenAI's chat completions, as MMAR's script calls them."""

    official = True
    rate_limited = True

    def __init__(self, model: str, temperature: float, seed: int, timeout_s: float) -> None:
        if not os.environ.get(KEY_ENV):
            raise ConfigError(
                f"the official MMAR-Rubrics judge is OpenAI's {model}: its API key is read from "
                f"the environment variable {KEY_ENV}, which is not set. Export it (export "
                f"{KEY_ENV}=...; OPENAI_BASE_URL sets another address), use another judge with "
                "--judge PRESET, or see the cost first with --dry-run."
            )
        self.name = model
        self.model, self.temperature, self.seed, self.timeout_s = (
            model,
            temperature,
            seed,
            timeout_s,
        )
        self._openai = require("openai", component="the MMAR-Rubrics judge", extra="openai")
        self._client = self._openai.AsyncOpenAI()

    @property
    def identity(self) -> dict[str, Any]:
        return {
            "judge": "openai",
            "model": self.model,
            "temperature": self.temperature,
            "seed": self.seed,
        }

    async def ask(self, call: Call) -> Outcome:
        errors = self._openai
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=[dict(m) for m in call.messages],
                temperature=self.temperature,
                seed=self.seed,
                timeout=self.timeout_s,
            )
        except (errors.APITimeoutError, errors.APIConnectionError) as error:
            return Outcome("transient", detail=f"{type(error).__name__}: {error}")
        except errors.APIStatusError as error:
            return _status_outcome(error)
        except Exception as error:  # the script gives up on the item on anything else
            return Outcome("failed", detail=f"{type(error).__name__}: {error}")
        usage = getattr(response, "usage", None)
        return Outcome(
            "reply",
            text=response.choices[0].message.content,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
        )

    async def aclose(self) -> None:
        await self._client.close()


def _status_outcome(error: Any) -> Outcome:
    """An HTTP error as the script sorts it: a rate limit (429, 418, or "rate" anywhere in the
    message) is asked again, anything else fails the item. A refused key or an exhausted quota
    stops the command instead: every other call would fail the same way."""
    status = int(error.status_code)
    text = str(error)
    if status == 401:
        return Outcome(
            "stop",
            detail=f"HTTP 401: the judge refused the API key; check the key in {KEY_ENV}",
        )
    if status == 429 and "insufficient_quota" in (text, str(getattr(error, "code", ""))):
        return Outcome(
            "stop",
            detail=f"HTTP 429 insufficient_quota: the account of the key in {KEY_ENV} has no "
            "quota left; add credit or use another key",
        )
    if "rate" in text.lower() or status in (429, 418):
        return Outcome("rate", detail=f"HTTP {status}: {text}")
    return Outcome("failed", detail=f"HTTP {status}: {text}")


class _NoCache(Cache):
    """The protocol caches valid replies itself (by rater and attempt); the answerer must not
    store a reply before it is read."""

    def get(self, namespace: str, key: str) -> dict[str, Any] | None:
        return None

    def put(self, namespace: str, key: str, value: Mapping[str, Any]) -> None:
        return None


class PresetJudge(Judge):
    """A reasoner preset playing the judge, through `answerer` (local or Ray)."""

    official = False
    rate_limited = False

    def __init__(
        self, name: str, reasoner: Reasoner, answerer: Answerer, batch_size: int, attempts: int
    ) -> None:
        self.name = name
        self.reasoner = reasoner
        self.answerer = answerer
        self.batch_size = max(1, batch_size)
        self.attempts = attempts
        self.counts = Counts()
        self._waiting: list[tuple[ChatRequest, asyncio.Future[AnswerRecord]]] = []
        self._sender: asyncio.Task[None] | None = None

    @property
    def identity(self) -> dict[str, Any]:
        return {"judge": "reasoner", "identity": self.reasoner.identity.to_json()}

    async def ask(self, call: Call) -> Outcome:
        request = ChatRequest(
            item_id=call.item_id,
            messages=tuple(ChatMessage(cast(Role, m["role"]), m["content"]) for m in call.messages),
            sample_index=call.rater * self.attempts + call.attempt - 1,
        )
        future: asyncio.Future[AnswerRecord] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send())
        record = await future
        response = record.response
        if not response.ok:
            return Outcome("failed", detail=response.error or "the judge gave no answer")
        return Outcome(
            "reply",
            text=response.text,
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
        )

    async def _send(self) -> None:
        while self._waiting:
            await asyncio.sleep(0.01)  # the other items' calls of this moment join the batch
            batch = self._waiting[: self.batch_size]
            self._waiting = self._waiting[self.batch_size :]
            requests: Sequence[ChatRequest] = [r for r, _ in batch]
            try:
                records = await asyncio.to_thread(
                    self.answerer, requests, self.reasoner, _NoCache(), self.counts
                )
            except BaseException as error:
                for _, future in batch:
                    future.set_exception(error)
                raise
            for (_, future), record in zip(batch, records, strict=True):
                future.set_result(record)

    async def aclose(self) -> None:
        self.reasoner.close()
