"""The `openai` reasoner against a local fault-injecting server: retries, failures, secrecy.

The server (stdlib http.server on 127.0.0.1) answers each POST with the next reply of a script:
an HTTP status, a delay longer than the client's timeout, or a chat completion. Everything here is
real HTTP through langchain-openai and the OpenAI client; nothing is mocked inside the client.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from cascade.records import ChatMessage, ChatRequest
from reasoners.openai_compat import OpenAIReasoner, OpenAIRuntime

pytest.importorskip("langchain_openai")

SECRET = "sk-test-0123456789abcdefSECRET"


@dataclass
class Reply:
    status: int = 200
    content: str = "ANSWER: B"
    reasoning: str | None = None
    finish_reason: str = "stop"
    delay_s: float = 0.0
    body: str | None = None
    """Raw body (default: a chat completion, or an OpenAI-style error object)."""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


class FaultServer:
    """Replies from a script, one per request; records what it received and peak concurrency."""

    def __init__(self, script: list[Reply]) -> None:
        self.script = list(script)
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.peak = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                is_json = self.headers.get("content-type", "").startswith("application/json")
                body = json.loads(raw) if raw and is_json else {}
                with server._lock:
                    server.seen.append(
                        Seen(
                            self.path,
                            {k.lower(): v for k, v in self.headers.items()},
                            body,
                            time.monotonic(),
                        )
                    )
                    reply = server.script.pop(0) if server.script else Reply(status=418)
                    server.in_flight += 1
                    server.peak = max(server.peak, server.in_flight)
                try:
                    time.sleep(reply.delay_s)
                    self._send(reply, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a scripted timeout)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _send(self, reply: Reply, request: dict[str, Any]) -> None:
                if reply.body is not None:
                    data = reply.body.encode()
                elif reply.status == 200:
                    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
                    if reply.reasoning is not None:
                        message["reasoning_content"] = reply.reasoning
                    payload: dict[str, Any] = {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "created": 0,
                        "model": request.get("model", "?"),
                        "choices": [
                            {"index": 0, "message": message, "finish_reason": reply.finish_reason}
                        ],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                    }
                    data = json.dumps(payload).encode()
                else:
                    error = {"error": {"message": f"scripted {reply.status}", "type": "test"}}
                    data = json.dumps(error).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[FaultServer] = []

    def start(*script: Reply) -> FaultServer:
        server = FaultServer(list(script)).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__()


def request(item_id: str = "q1", text: str = "Which one?", sample_index: int = 0) -> ChatRequest:
    return ChatRequest(
        item_id=item_id,
        messages=(ChatMessage("system", "Answer."), ChatMessage("user", text)),
        sample_index=sample_index,
    )


def reasoner(server: FaultServer, **runtime: Any) -> OpenAIReasoner:
    options: dict[str, Any] = {
        "base_url": server.url,
        "concurrency": 1,
        "timeout_s": 5.0,
        "max_retries": 3,
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
    }
    options.update(runtime)
    return OpenAIReasoner({"model": "test-model", "max_tokens": 64}, options)


def test_answer_usage_and_request_fields(serve: Any) -> None:
    server = serve(Reply(content="The tone is higher.\nANSWER: C"))
    (response,) = reasoner(server).generate([request(sample_index=2)])
    assert response.ok and response.text == "The tone is higher.\nANSWER: C"
    assert (response.finish_reason, response.prompt_tokens, response.completion_tokens) == (
        "stop",
        11,
        7,
    )
    (seen,) = server.seen
    assert seen.path == "/v1/chat/completions"
    assert seen.body["model"] == "test-model"
    assert seen.body["messages"] == [
        {"role": "system", "content": "Answer."},
        {"role": "user", "content": "Which one?"},
    ]
    assert seen.body["temperature"] == 0.0
    assert seen.body["max_completion_tokens"] == 64
    assert seen.body["seed"] == 2  # seed 0 + sample index 2
    assert seen.headers["authorization"] == "Bearer EMPTY"


def test_max_tokens_field_for_servers_that_want_max_tokens(serve: Any) -> None:
    server = serve(Reply())
    r = OpenAIReasoner(
        {"model": "m", "max_tokens": 99, "max_tokens_field": "max_tokens", "temperature": None},
        {"base_url": server.url},
    )
    r.generate([request()])
    body = server.seen[0].body
    assert body["max_tokens"] == 99 and "max_completion_tokens" not in body
    assert "temperature" not in body


def test_reasoning_content_is_the_trace_never_the_answer(serve: Any) -> None:
    server = serve(Reply(content="ANSWER: A", reasoning="Option B is tempting, but A fits."))
    (response,) = reasoner(server).generate([request()])
    assert response.text == "ANSWER: A"
    assert response.reasoning == "Option B is tempting, but A fits."


def test_think_tags_in_content_are_split(serve: Any) -> None:
    server = serve(Reply(content="<think>\nB? No, D.\n</think>\n\nANSWER: D"))
    (response,) = reasoner(server).generate([request()])
    assert (response.text, response.reasoning) == ("ANSWER: D", "B? No, D.")


def test_length_stop_is_flagged(serve: Any) -> None:
    server = serve(Reply(content="", reasoning="Let me think about", finish_reason="length"))
    (response,) = reasoner(server).generate([request()])
    assert response.ok and response.truncated and response.text == ""
    assert response.reasoning == "Let me think about"


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_retryable_statuses_are_retried_then_answered(serve: Any, status: int) -> None:
    server = serve(Reply(status=status), Reply(status=status), Reply(content="ANSWER: A"))
    (response,) = reasoner(server).generate([request()])
    assert response.ok and response.text == "ANSWER: A"
    assert len(server.seen) == 3


def test_timeout_is_retried(serve: Any) -> None:
    server = serve(Reply(delay_s=1.5, content="too late"), Reply(content="ANSWER: B"))
    (response,) = reasoner(server, timeout_s=0.3).generate([request()])
    assert response.ok and response.text == "ANSWER: B"
    assert len(server.seen) == 2


def test_retries_are_bounded_and_the_failure_names_the_status(serve: Any) -> None:
    server = serve(*[Reply(status=503)] * 10)
    (response,) = reasoner(server, max_retries=2).generate([request()])
    assert not response.ok and response.text == "" and response.finish_reason == "error"
    assert response.error is not None
    assert response.error.startswith("HTTP 503") and "after 3 attempts" in response.error
    assert len(server.seen) == 3


def test_timeouts_exhausting_retries_fail(serve: Any) -> None:
    server = serve(*[Reply(delay_s=1.0)] * 3)
    (response,) = reasoner(server, timeout_s=0.2, max_retries=1).generate([request()])
    assert response.error is not None and response.error.startswith("timeout")
    assert len(server.seen) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_fail_at_once(serve: Any, status: int) -> None:
    server = serve(Reply(status=status), Reply(content="ANSWER: A"))
    (response,) = reasoner(server).generate([request()])
    assert not response.ok and response.text == "" and response.reasoning == ""
    assert response.error is not None and response.error.startswith(f"HTTP {status}")
    assert len(server.seen) == 1


def test_a_200_that_is_not_a_chat_completion_fails_at_once(serve: Any) -> None:
    server = serve(Reply(body='{"object": "error"}'), Reply())
    (response,) = reasoner(server).generate([request()])
    assert not response.ok and response.text == ""
    assert response.error is not None and "choices" in response.error
    assert len(server.seen) == 1


def test_retry_after_header_is_honoured(serve: Any) -> None:
    server = serve(Reply(status=429, headers={"retry-after": "0.4"}), Reply())
    started = time.monotonic()
    (response,) = reasoner(server, backoff_max_s=1.0).generate([request()])
    assert response.ok
    assert server.seen[1].at - server.seen[0].at >= 0.4
    assert time.monotonic() - started < 5


def test_one_failure_does_not_touch_the_others_and_order_is_kept(serve: Any) -> None:
    server = serve(Reply(content="ANSWER: A"), Reply(status=400), Reply(content="ANSWER: C"))
    responses = reasoner(server).generate([request("a"), request("b"), request("c")])
    assert [r.text for r in responses] == ["ANSWER: A", "", "ANSWER: C"]
    assert [r.ok for r in responses] == [True, False, True]


def test_concurrency_is_bounded(serve: Any) -> None:
    server = serve(*[Reply(delay_s=0.2, content=f"ANSWER: {c}") for c in "ABCDEFGHI"])
    r = reasoner(server, concurrency=3)
    responses = r.generate([request(str(i), text=f"q{i}") for i in range(9)])
    assert all(x.ok for x in responses)
    assert server.peak == 3


def test_api_key_is_sent_but_never_shown(
    serve: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CASCADE_TEST_API_KEY", SECRET)
    echo = json.dumps({"error": {"message": f"Incorrect API key provided: {SECRET}"}})
    server = serve(Reply(status=503, body=echo), Reply(status=401, body=echo))
    caplog.set_level(logging.DEBUG)
    r = reasoner(server, api_key_env="CASCADE_TEST_API_KEY")
    (response,) = r.generate([request()])
    assert server.seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert response.error is not None and response.error.startswith("HTTP 401")
    assert "[API key]" in response.error
    shown = [
        response.error,
        caplog.text,
        repr(r),
        str(r.__dict__),
        repr(r.chat_model()),
        json.dumps(r.identity.to_json()),
        r.runtime.model_dump_json(),
        r.config.model_dump_json(),
    ]
    assert "warning" in caplog.text.lower() or "retry" in caplog.text  # the 503 was logged
    for text in shown:
        assert SECRET not in text


def test_missing_key_variable_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from cascade.errors import ComponentError

    monkeypatch.delenv("CASCADE_TEST_API_KEY", raising=False)
    r = OpenAIReasoner({"model": "m"}, {"api_key_env": "CASCADE_TEST_API_KEY"})
    with pytest.raises(ComponentError, match="CASCADE_TEST_API_KEY, which is not set"):
        r.generate([request()])


def test_a_key_pasted_as_the_variable_name_is_rejected_without_echo() -> None:
    with pytest.raises(ValueError) as raised:
        OpenAIRuntime(api_key_env=SECRET)
    assert "not a key" in str(raised.value) and SECRET not in str(raised.value)


def test_cache_identity_has_the_model_not_the_server(serve: Any) -> None:
    a = OpenAIReasoner({"model": "m"}, {"base_url": "http://127.0.0.1:1/v1"})
    b = OpenAIReasoner({"model": "m"}, {"base_url": "http://127.0.0.1:2/v1", "concurrency": 2})
    c = OpenAIReasoner({"model": "other"}, {"base_url": "http://127.0.0.1:1/v1"})
    assert a.identity.digest == b.identity.digest != c.identity.digest


DATA = Path(__file__).parent / "data" / "reasoners"


def recorded(name: str) -> Reply:
    return Reply(body=(DATA / name).read_text())


def test_deepseek_reasoning_content_is_the_trace(serve: Any) -> None:
    server = serve(recorded("deepseek_reasoner_response.json"))
    (response,) = reasoner(server).generate([request()])
    assert response.ok and response.finish_reason == "stop"
    assert response.text.endswith("ANSWER: C") and "Could ANSWER: A" not in response.text
    assert (
        response.reasoning.startswith("Okay, the question asks") and "So C." in response.reasoning
    )
    assert (response.prompt_tokens, response.completion_tokens) == (212, 118)


def test_deepseek_length_stop_inside_the_trace_is_flagged_with_no_answer(serve: Any) -> None:
    server = serve(recorded("deepseek_reasoner_truncated.json"))
    (response,) = reasoner(server).generate([request()])
    assert response.ok and response.truncated and response.text == ""
    assert response.reasoning.startswith("Hmm, the question asks")


def test_vllm_reasoning_field_is_the_trace(serve: Any) -> None:
    server = serve(recorded("vllm_reasoning_parser_response.json"))
    (response,) = reasoner(server).generate([request()])
    assert response.text == (
        "The rising pitch contour in the signal analysis matches an ascending scale.\n\nANSWER: A"
    )
    assert response.reasoning.startswith("Okay, the signal analysis lists pitches")


def test_r1_distill_on_a_server_without_reasoning_parser(serve: Any) -> None:
    server = serve(recorded("vllm_no_parser_r1_distill.json"))
    (response,) = reasoner(server).generate([request()])
    assert response.text == (
        "The analysis finds four evenly spaced onsets, so there are four beeps.\n\nANSWER: B"
    )
    assert response.reasoning.startswith("Okay, so the question is about how many beeps")


def test_a_pipeline_run_never_writes_the_key(
    serve: Any, make_config: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from cascade import pipeline

    monkeypatch.setenv("CASCADE_TEST_API_KEY", SECRET)
    echo = json.dumps({"error": {"message": f"bad key {SECRET}"}})
    replies = [Reply(content="ANSWER: B")] * 5 + [Reply(status=401, body=echo)]
    server = serve(*replies)
    caplog.set_level(logging.DEBUG)
    config = make_config(
        reasoner={
            "name": "openai",
            "config": {"model": "test-model"},
            "runtime": {"base_url": server.url, "api_key_env": "CASCADE_TEST_API_KEY"},
        },
        run__batch_size=6,
    )
    summary = pipeline.execute(config)
    assert summary.errors == 1 and len(server.seen) == 6
    written = [p for p in summary.run_dir.rglob("*") if p.is_file()]
    written += [p for p in config.cache_dir.rglob("*") if p.is_file()] if config.cache_dir else []
    assert any("results" in p.name for p in written)
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path
    assert "CASCADE_TEST_API_KEY" in (summary.run_dir / "config.yaml").read_text()
    assert SECRET not in caplog.text
