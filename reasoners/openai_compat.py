"""OpenAI-compatible chat endpoints (OpenAI, DeepSeek, a vLLM server...) through langchain-openai.

Requests of a batch run concurrently on a bounded thread pool. Retries are the OpenAI client's own
(`runtime.max_retries`, handed to it by langchain-openai): a refused or reset connection, a timeout,
408, 409, 429 and 5xx are retried with exponential backoff (0.5 s doubling to 8 s, with jitter, or
the server's Retry-After up to 2 minutes); any other error (400, 401, 404, a malformed response)
fails that request at once. A failure is a response with `error` set and no text, never answer
text, and its message names the endpoint and the number of attempts.

The API key is read from the environment variable named in the runtime (`api_key_env`); only the
name is ever stored or logged, and error messages are scrubbed of the key in case a server echoes
it back.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import cache
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator

from cascade.core import (
    ChatRequest,
    ComponentConfig,
    ConfigError,
    Reasoner,
    ReasonerResponse,
    RuntimeConfig,
    ToolCall,
    default_root,
    require,
)

from .openai_batch import run_batch
from .responses import build_response, seed_for

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NO_KEY = "EMPTY"
"""Sent when no key is configured: local servers ignore it, the OpenAI client needs one."""


class OpenAIConfig(ComponentConfig):
    model: str
    """The model name the server knows (`gpt-4o`, `deepseek-reasoner`, a vLLM served name)."""
    temperature: float | None = Field(default=0.0, ge=0)
    """None: leave it to the server (OpenAI o-series accept only their default)."""
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=2048, ge=1)
    """Generated-token budget, reasoning included. None: the server's default."""
    max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens"
    """The request field carrying the budget: OpenAI's o-series need `max_completion_tokens`;
    DeepSeek's API documents `max_tokens`."""
    seed: int | None = 0
    """Seed of sample 0 (sample i: seed + i), for servers that honour it. None: not sent."""
    reasoning_effort: str | None = None
    """OpenAI o-series effort (`low`, `medium`, `high`)."""
    extra_body: dict[str, Any] = Field(default_factory=dict)
    """Extra request fields, e.g. {"chat_template_kwargs": {"enable_thinking": false}} for vLLM."""
    prompt_opens_thinking: bool = False
    """The server's chat template opens `<think>` in the prompt and no reasoning parser splits the
    trace (an R1 distill on a vLLM server started without `--reasoning-parser`)."""


class OpenAIRuntime(RuntimeConfig):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    base_url: str | None = None
    """The server's `/v1` URL; None: OpenAI's. Not part of the cache key: the model is."""
    api_key_env: str | None = None
    """The NAME of the environment variable holding the API key (e.g. DEEPSEEK_API_KEY), never
    the key itself. None: no key (local servers)."""
    concurrency: int = Field(default=8, ge=1)
    """Requests in flight at once."""
    timeout_s: float = Field(default=600.0, gt=0)
    """Per-attempt timeout; a timeout is retried."""
    max_retries: int = Field(default=5, ge=0)
    """Retries after the first attempt (the OpenAI client's), for refused or reset connections,
    timeouts, 408, 409, 429 and 5xx. The waits double from 0.5 s to at most 8 s: 5 retries wait
    out about 15 s of a restarting server; each further retry adds 8 s."""
    batch_api: bool = False
    """Send each batch through the provider's Batch API (`/v1/batches`: cheaper, answers within
    24 h) instead of online requests; meant for runs with a large `run.batch_size`."""
    batch_poll_s: float = Field(default=60.0, gt=0)
    """Seconds between status checks of a submitted batch."""
    batch_timeout_s: float = Field(default=86400.0, gt=0)
    """A batch unfinished after this long is cancelled and its missing requests fail."""

    @field_validator("base_url")
    @classmethod
    def _is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL, e.g. http://localhost:8000/v1")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _is_a_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.fullmatch(value):
            # Never echo the value: it may be a key pasted by mistake.
            raise ValueError("must be the name of an environment variable, not a key")
        return value


def failure_message(error: BaseException, *, api_key_env: str | None) -> str:
    """What went wrong with a request, naming the endpoint and how many attempts were made."""
    openai = require("openai", component="reasoner 'openai'", extra="openai")
    # langchain-openai re-raises the client's errors as subclasses of its own, from the original.
    while isinstance(error.__cause__, openai.APIError):
        error = error.__cause__
    name = type(error).__name__
    request = getattr(error, "request", None)
    # The client counts its retries in a header of the request it sent last.
    retries = int(request.headers.get("x-stainless-retry-count", 0)) if request else 0
    tried = f" after {retries + 1} attempts" if retries else ""
    endpoint = f" from {request.url}" if request else ""
    if isinstance(error, openai.APITimeoutError):
        return f"timeout ({name}){endpoint}{tried}; raise runtime.timeout_s for a slow server"
    if isinstance(error, openai.APIConnectionError):
        cause = error.__cause__ or error
        return (
            f"cannot reach {request.url if request else 'the server'} ({name}: "
            f"{type(cause).__name__}: {cause}){tried}; check that the server is running and "
            "that runtime.base_url is its address"
        )
    if isinstance(error, openai.APIStatusError):
        message = f"HTTP {error.status_code} ({name}){endpoint}: {error.message}{tried}"
        if error.status_code == 401:
            message += (
                f"; check the API key in the environment variable {api_key_env} "
                "(runtime.api_key_env)"
                if api_key_env
                else "; the server wants an API key: set runtime.api_key_env to the name of "
                "the environment variable that holds it"
            )
        return message
    return f"{name}: {error}"


def lc_messages(request: ChatRequest) -> list[Any]:
    """A conversation with tool calls as langchain's messages: an assistant turn's calls (those
    whose arguments are not a JSON object as langchain's invalid calls, sent back verbatim) and
    each tool result under the id of the call it answers."""
    lc = require("langchain_core.messages", component="reasoner 'openai'", extra="openai")
    found: list[Any] = []
    for m in request.messages:
        if m.role == "tool":
            found.append(lc.ToolMessage(content=m.content, tool_call_id=m.tool_call_id or ""))
        elif m.role == "assistant" and m.tool_calls:
            valid, invalid = [], []
            for call in m.tool_calls:
                args = _json_object(call.arguments)
                if args is None:
                    invalid.append(
                        {"name": call.name, "args": call.arguments, "id": call.id, "error": None}
                    )
                else:
                    valid.append({"name": call.name, "args": args, "id": call.id})
            found.append(
                lc.AIMessage(content=m.content, tool_calls=valid, invalid_tool_calls=invalid)
            )
        else:
            found.append((m.role, m.content))
    return found


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text or "{}")
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def tool_calls_of(message: Any) -> tuple[ToolCall, ...]:
    """The calls of a reply, arguments as the JSON text the model wrote (re-serialised when
    langchain parsed them; verbatim when it could not)."""
    calls = [
        ToolCall(str(c.get("id") or ""), str(c["name"]), json.dumps(c.get("args") or {}))
        for c in getattr(message, "tool_calls", None) or ()
    ]
    calls += [
        ToolCall(str(c.get("id") or ""), str(c.get("name") or ""), str(c.get("args") or ""))
        for c in getattr(message, "invalid_tool_calls", None) or ()
    ]
    return tuple(calls)


@cache
def _chat_model_class() -> type[Any]:
    """ChatOpenAI, plus the server's separate reasoning trace and a choice of token field.

    langchain-openai keeps to OpenAI's own fields and drops `reasoning_content` (DeepSeek) and
    `reasoning` (vLLM >= 0.10); both are copied into the message's `additional_kwargs`.
    """
    lc = require("langchain_openai", component="reasoner 'openai'", extra="openai")

    class ChatWithReasoning(lc.ChatOpenAI):  # type: ignore[misc,name-defined]
        token_field: str = "max_completion_tokens"

        def _get_request_payload(self, input_: Any, *, stop: Any = None, **kwargs: Any) -> Any:
            payload = super()._get_request_payload(input_, stop=stop, **kwargs)
            if self.token_field == "max_tokens" and "max_completion_tokens" in payload:
                payload["max_tokens"] = payload.pop("max_completion_tokens")
            return payload

        def _create_chat_result(self, response: Any, generation_info: Any = None) -> Any:
            result = super()._create_chat_result(response, generation_info)
            raw = response if isinstance(response, dict) else response.model_dump()
            for generation, choice in zip(
                result.generations, raw.get("choices") or (), strict=False
            ):
                message = choice.get("message") or {}
                trace = message.get("reasoning_content") or message.get("reasoning")
                if isinstance(trace, str):
                    generation.message.additional_kwargs["reasoning_content"] = trace
            return result

    return ChatWithReasoning


class OpenAIReasoner(Reasoner):
    """Chat completions from any OpenAI-compatible server, through langchain-openai."""

    name: ClassVar[str] = "openai"
    native_tools: ClassVar[bool] = True
    light_load: ClassVar[bool] = True  # load() checks the key's variable and builds the client
    version: ClassVar[int] = 1
    extra: ClassVar[str | None] = "openai"
    requires: ClassVar[tuple[str, ...]] = ("langchain_openai", "openai")
    Config = OpenAIConfig
    Runtime = OpenAIRuntime
    config: OpenAIConfig
    runtime: OpenAIRuntime

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._model: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"OpenAIReasoner(model={self.config.model!r}, base_url={self.runtime.base_url!r}, "
            f"api_key_env={self.runtime.api_key_env!r})"
        )

    def _api_key(self) -> str:
        name = self.runtime.api_key_env
        if name is None:
            return _NO_KEY
        key = os.environ.get(name)
        if not key:
            where = self.runtime.base_url or "OpenAI"
            raise ConfigError(
                f"reasoner 'openai' (model {self.config.model} at {where}): the API key is read "
                f"from the environment variable {name} (runtime.api_key_env), which is not set "
                f"or empty. Export it (export {name}=...), or set runtime.api_key_env to the "
                "variable that holds your key."
            )
        return key

    def load(self) -> Any:
        """Check, before the first item, what can be checked without a paid request: the API
        key's variable is set and the client builds. No request is sent.

        Returns:
            The langchain chat model.

        Raises:
            ConfigError: the API key's environment variable is not set.
        """
        return self.chat_model()

    def chat_model(self) -> Any:
        """The langchain chat model, built once (no request is sent by building it)."""
        with self._lock:
            if self._model is None:
                c, rt = self.config, self.runtime
                self._model = _chat_model_class()(
                    model=c.model,
                    base_url=rt.base_url,
                    api_key=self._api_key(),
                    temperature=c.temperature,
                    top_p=c.top_p,
                    max_tokens=c.max_tokens,
                    token_field=c.max_tokens_field,
                    reasoning_effort=c.reasoning_effort,
                    extra_body=c.extra_body or None,
                    timeout=rt.timeout_s,
                    max_retries=rt.max_retries,
                    use_responses_api=False,
                    stream_usage=False,
                )
            return self._model

    def generate(self, requests: Sequence[ChatRequest]) -> list[ReasonerResponse]:
        if not requests:
            return []
        model = self.chat_model()
        if self.runtime.batch_api:
            return self._generate_batch(model, requests)
        workers = min(self.runtime.concurrency, len(requests))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="openai") as pool:
            return list(pool.map(lambda r: self._answer(model, r), requests))

    def _call(self, request: ChatRequest) -> tuple[list[Any], dict[str, Any]]:
        """The messages and per-request options of one call (a conversation of an agent run:
        its tool calls and results as langchain's messages)."""
        seed = seed_for(self.config.seed, request)
        options = {} if seed is None else {"seed": seed}
        if any(m.tool_calls or m.role == "tool" for m in request.messages):
            return lc_messages(request), options
        return [(m.role, m.content) for m in request.messages], options

    def _generate_batch(
        self, model: Any, requests: Sequence[ChatRequest]
    ) -> list[ReasonerResponse]:
        """Latency is the batch's wall time (upload to download) divided by its size."""
        rt = self.runtime
        started = time.perf_counter()
        if any(r.tools for r in requests):
            message = (
                "the Batch API does not run an agent's turns (each turn waits on the last's "
                "tool calls): set runtime.batch_api=false for agent runs"
            )
            return [ReasonerResponse.failed(message) for _ in requests]
        bodies = []
        for request in requests:
            messages, options = self._call(request)
            body = dict(model._get_request_payload(messages, **options))
            body.pop("stream", None)
            body.update(body.pop("extra_body", None) or {})  # the client merges it when online
            bodies.append(body)
        try:
            results = run_batch(
                model.root_client,
                bodies,
                poll_s=rt.batch_poll_s,
                timeout_s=rt.batch_timeout_s,
                records=default_root() / "batches",
            )
        except Exception as error:
            message = self._failure(error, prefix="batch API: ")
            latency = time.perf_counter() - started
            return [ReasonerResponse.failed(message, latency_s=latency) for _ in requests]
        latency = (time.perf_counter() - started) / len(requests)
        responses = []
        for result in results:
            if result.body is None:
                reason = self._scrub(result.error or "batch line without a result")
                responses.append(ReasonerResponse.failed(reason, latency_s=latency))
                continue
            try:
                message = model._create_chat_result(result.body).generations[0].message
            except Exception as error:
                failure = f"malformed batch line: {type(error).__name__}: {error}"
                responses.append(ReasonerResponse.failed(self._scrub(failure), latency_s=latency))
                continue
            responses.append(self._response(message, latency))
        return responses

    def _answer(self, model: Any, request: ChatRequest) -> ReasonerResponse:
        messages, options = self._call(request)
        started = time.perf_counter()
        if request.tools:  # an agent's turn: langchain's tool binding sends the schemas
            model = model.bind_tools(list(request.tools))
        try:
            message = model.invoke(messages, **options)  # the client retries what is retryable
        except Exception as error:
            return ReasonerResponse.failed(
                self._failure(error), latency_s=time.perf_counter() - started
            )
        return self._response(message, time.perf_counter() - started)

    def _failure(self, error: BaseException, prefix: str = "") -> str:
        return self._scrub(prefix + failure_message(error, api_key_env=self.runtime.api_key_env))

    def _response(self, message: Any, latency_s: float) -> ReasonerResponse:
        content = message.content if isinstance(message.content, str) else ""
        trace = message.additional_kwargs.get("reasoning_content")
        usage = message.usage_metadata or {}
        response = build_response(
            content,
            raw_finish_reason=message.response_metadata.get("finish_reason"),
            reasoning_content=trace if isinstance(trace, str) else None,
            prompt_opens_thinking=self.config.prompt_opens_thinking,
            prompt_tokens=usage.get("input_tokens"),
            completion_tokens=usage.get("output_tokens"),
            # The server's breakdown (`completion_tokens_details.reasoning_tokens`,
            # `prompt_tokens_details.cached_tokens`), as the client reports it: what is billed
            # at another rate, or says where the budget went.
            # DeepSeek reports its cache hits as `prompt_cache_hit_tokens`.
            reasoning_tokens=(usage.get("output_token_details") or {}).get("reasoning"),
            cached_tokens=(usage.get("input_token_details") or {}).get("cache_read")
            or (message.response_metadata.get("token_usage") or {}).get("prompt_cache_hit_tokens"),
            latency_s=latency_s,
        )
        calls = tool_calls_of(message)
        return replace(response, tool_calls=calls) if calls else response

    def _scrub(self, text: str) -> str:
        """The text without the API key, in case a server or proxy echoed it."""
        name = self.runtime.api_key_env
        key = os.environ.get(name) if name else None
        return text.replace(key, "[API key]") if key else text

    def close(self) -> None:
        self._model = None
