"""The `openai` reasoner against a local fault-injecting server: retries, failures, secrecy.

The server (stdlib http.server on 127.0.0.1) answers each POST with the next reply of a script:
an HTTP status, a delay longer than the client's timeout, a reset connection, or a chat completion.
Everything here is real HTTP through langchain-openai and the OpenAI client; nothing is mocked
inside the client. Retries wait the client's own backoff (0.5 s, then 1 s, ...), so the scripts
keep to one or two retries.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cascade.reasoners.openai_compat import OpenAIReasoner, OpenAIRuntime

from cascade import commands
from cascade.core import ChatMessage, ChatRequest, ConfigError

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
    reset: bool = False
    """Reset the connection (TCP RST) instead of answering, as a server going down does."""


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


class FaultServer:
    """Replies from a script, one per request; records what it received and peak concurrency."""

    def __init__(self, script: list[Reply], port: int = 0) -> None:
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
                    if reply.reset:
                        self._reset()
                        return
                    self._send(reply, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a scripted timeout)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _reset(self) -> None:
                linger = struct.pack("ii", 1, 0)  # close with RST, not FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.connection.close()
                self.close_connection = True

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

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        return url_of(self.httpd.server_address[1])

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def url_of(port: int) -> str:
    return f"http://127.0.0.1:{port}/v1"


def free_port() -> int:
    """A port nothing listens on: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[FaultServer] = []

    def start(*script: Reply, port: int = 0) -> FaultServer:
        server = FaultServer(list(script), port).__enter__()
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


def reasoner(server: FaultServer | str, **runtime: Any) -> OpenAIReasoner:
    url = server if isinstance(server, str) else server.url
    options: dict[str, Any] = {
        "base_url": url,
        "concurrency": 1,
        "timeout_s": 5.0,
        "max_retries": 3,
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


@pytest.mark.parametrize("status", [408, 409, 429, 500, 503])
def test_retryable_statuses_are_retried_then_answered(serve: Any, status: int) -> None:
    server = serve(Reply(status=status), Reply(content="ANSWER: A"))
    (response,) = reasoner(server).generate([request()])
    assert response.ok and response.text == "ANSWER: A"
    assert len(server.seen) == 2


def test_a_server_restart_is_waited_out(serve: Any) -> None:
    """Connections refused until the server is up again (after 0.3 s), then an answer."""
    port = free_port()
    servers: list[FaultServer] = []
    later = threading.Timer(0.3, lambda: servers.append(serve(Reply(), port=port)))
    later.start()
    try:
        (response,) = reasoner(url_of(port)).generate([request()])
    finally:
        later.join()
    assert response.ok and response.text == "ANSWER: B"
    assert len(servers[0].seen) == 1


def test_reset_connections_are_retried(serve: Any) -> None:
    server = serve(Reply(reset=True), Reply(reset=True), Reply(content="ANSWER: C"))
    (response,) = reasoner(server).generate([request()])
    assert response.ok and response.text == "ANSWER: C"
    assert len(server.seen) == 3


def test_a_server_that_stays_down_fails_the_item_naming_the_endpoint() -> None:
    port = free_port()
    started = time.monotonic()
    (response,) = reasoner(url_of(port), max_retries=2).generate([request()])
    elapsed = time.monotonic() - started
    assert not response.ok and response.text == "" and response.finish_reason == "error"
    assert response.error is not None
    assert response.error.startswith(f"cannot reach {url_of(port)}/chat/completions")
    assert "after 3 attempts" in response.error and "runtime.base_url" in response.error
    assert 0.5 < elapsed < 5  # two backoffs (0.5 s and 1 s, less jitter), not 2 x 8 s


def test_a_server_that_resets_every_connection_fails_after_the_retries(serve: Any) -> None:
    server = serve(*[Reply(reset=True)] * 5)
    (response,) = reasoner(server, max_retries=1).generate([request()])
    assert response.error is not None
    assert response.error.startswith(f"cannot reach {server.url}/chat/completions")
    assert "after 2 attempts" in response.error
    assert len(server.seen) == 2


def test_401_is_not_retried_and_names_the_key_variable(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASCADE_TEST_API_KEY", "sk-wrong")
    server = serve(Reply(status=401), Reply())
    (response,) = reasoner(server, api_key_env="CASCADE_TEST_API_KEY").generate([request()])
    assert response.error is not None and response.error.startswith("HTTP 401")
    assert "check the API key in the environment variable CASCADE_TEST_API_KEY" in response.error
    assert "attempts" not in response.error
    assert len(server.seen) == 1


def test_401_from_a_server_given_no_key_says_how_to_give_one(serve: Any) -> None:
    server = serve(Reply(status=401))
    (response,) = reasoner(server).generate([request()])
    assert response.error is not None and "set runtime.api_key_env" in response.error


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
    assert response.error.startswith(f"HTTP 503 (InternalServerError) from {server.url}")
    assert "after 3 attempts" in response.error
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
    server = serve(Reply(status=429, headers={"retry-after": "1.2"}), Reply())
    started = time.monotonic()
    (response,) = reasoner(server).generate([request()])
    assert response.ok
    assert server.seen[1].at - server.seen[0].at >= 1.2  # not the 0.5 s of the backoff
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
    monkeypatch.delenv("CASCADE_TEST_API_KEY", raising=False)
    r = OpenAIReasoner({"model": "m"}, {"api_key_env": "CASCADE_TEST_API_KEY"})
    with pytest.raises(ConfigError, match=r"CASCADE_TEST_API_KEY \(runtime.api_key_env\), which"):
        r.generate([request()])


def test_load_checks_the_key_variable_before_any_request(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(Reply())
    monkeypatch.setenv("CASCADE_TEST_API_KEY", "")
    r = reasoner(server, api_key_env="CASCADE_TEST_API_KEY")
    with pytest.raises(ConfigError) as raised:
        r.load()
    assert "model test-model at " + server.url in str(raised.value)
    assert "export CASCADE_TEST_API_KEY=" in str(raised.value)
    monkeypatch.setenv("CASCADE_TEST_API_KEY", SECRET)
    assert r.load() is r.chat_model()  # built once
    assert server.seen == []  # a start-up check never spends a request


def test_base_url_must_be_an_http_url() -> None:
    with pytest.raises(ValueError, match="http:// or https:// URL"):
        OpenAIRuntime(base_url="localhost:8000/v1")


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
    summary = commands.run(config)
    assert summary.errors == 1 and len(server.seen) == 6
    written = [p for p in summary.run_dir.rglob("*") if p.is_file()]
    written += [p for p in config.cache_dir.rglob("*") if p.is_file()] if config.cache_dir else []
    assert any("results" in p.name for p in written)
    for path in written:
        assert SECRET.encode() not in path.read_bytes(), path
    assert "CASCADE_TEST_API_KEY" in (summary.run_dir / "config.yaml").read_text()
    assert SECRET not in caplog.text
