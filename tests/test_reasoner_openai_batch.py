"""The `openai` reasoner's Batch API mode against a local server speaking OpenAI's batch protocol.

The server stores the uploaded JSONL, reports the batch `in_progress` on the first poll, then
`completed` (or a scripted end state) with output and error files made from the requests. Real
HTTP through the OpenAI client; nothing inside the client is mocked. A killed run is a real
process, killed (SIGKILL) while it waits for the batch it submitted.
"""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cascade.reasoners.openai_compat import OpenAIReasoner

from cascade.core import ChatMessage, ChatRequest

pytest.importorskip("langchain_openai")


class BatchServer:
    """Files and batches in memory. `fail` maps a request's user text to an HTTP status."""

    def __init__(self, *, end_state: str = "completed", fail: dict[str, int] | None = None) -> None:
        self.files: dict[str, bytes] = {}
        self.uploads = 0
        self.created = 0
        self.batches: dict[str, dict[str, Any]] = {}
        self.polls = 0
        self.end_state = end_state
        self.fail = fail or {}
        self.auth: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, payload: Any, raw: bytes | None = None, status: int = 200) -> None:
                data = raw if raw is not None else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                server.auth.append(self.headers.get("authorization", ""))
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == "/v1/files":
                    self._reply(server.upload(self.headers["content-type"], body))
                elif self.path == "/v1/batches":
                    self._reply(server.create(json.loads(body)))
                elif self.path.endswith("/cancel"):
                    batch = server.batches[self.path.split("/")[3]]
                    batch["status"] = "cancelled"
                    self._reply(batch)

            def do_GET(self) -> None:
                parts = self.path.split("/")
                if self.path.startswith("/v1/batches/") and parts[3] not in server.batches:
                    self._reply({"error": {"message": "No such batch"}}, status=404)
                elif self.path.startswith("/v1/batches/"):
                    self._reply(server.poll(parts[3]))
                elif self.path.endswith("/content"):
                    self._reply(None, raw=server.files[parts[3]])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def upload(self, content_type: str, body: bytes) -> dict[str, Any]:
        form = email.message_from_bytes(f"content-type: {content_type}\r\n\r\n".encode() + body)
        content = next(
            bytes(part.get_payload(decode=True))
            for part in form.walk()
            if part.get_filename() == "cascade-requests.jsonl"
        )
        file_id = f"file-{len(self.files)}"
        self.files[file_id] = content
        self.uploads += 1
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": 0,
            "filename": "cascade-requests.jsonl",
            "purpose": "batch",
            "status": "processed",
        }

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        batch_id = f"batch_{self.created}"
        self.created += 1
        self.batches[batch_id] = {
            "id": batch_id, "object": "batch", "endpoint": request["endpoint"],
            "input_file_id": request["input_file_id"], "completion_window": "24h",
            "created_at": 0, "status": "validating",
        }  # fmt: skip
        return self.batches[batch_id]

    def requests(self, batch_id: str) -> list[dict[str, Any]]:
        raw = self.files[self.batches[batch_id]["input_file_id"]].decode()
        return [json.loads(line) for line in raw.splitlines()]

    def poll(self, batch_id: str) -> dict[str, Any]:
        self.polls += 1
        batch = self.batches[batch_id]
        if batch["status"] == "validating":
            batch["status"] = "in_progress"
        elif batch["status"] == "in_progress" and self.end_state != "never":
            self.finish(batch)
        return batch

    def finish(self, batch: dict[str, Any]) -> None:
        outputs, errors = [], []
        lines = self.requests(batch["id"])
        if self.end_state == "expired":
            lines = lines[:1]  # only the first request was done before expiry
        for line in lines:
            text = line["body"]["messages"][-1]["content"]
            status = self.fail.get(text, 200)
            if status == 200:
                message = {"role": "assistant", "content": f"ANSWER: {text[-1]}"}
                if "think" in text:
                    message["reasoning_content"] = "thought about it"
                body: dict[str, Any] = {
                    "id": "chatcmpl-b", "object": "chat.completion", "created": 0,
                    "model": line["body"]["model"],
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
                }  # fmt: skip
                response = {"status_code": 200, "body": body}
                outputs.append({"custom_id": line["custom_id"], "response": response})
            else:
                error = {
                    "error": {"message": f"scripted {status}", "type": "invalid_request_error"}
                }
                response = {"status_code": status, "body": error}
                errors.append({"custom_id": line["custom_id"], "response": response})
        for key, records in (("output_file_id", outputs), ("error_file_id", errors)):
            if records:
                file_id = f"file-{len(self.files)}"
                self.files[file_id] = "".join(json.dumps(r) + "\n" for r in records).encode()
                batch[key] = file_id
        batch["status"] = self.end_state


@pytest.fixture(autouse=True)
def records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Submitted batches are recorded in the cache: a fresh one per test."""
    monkeypatch.setenv("CASCADE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "batches"


@pytest.fixture
def batch_server() -> Iterator[Any]:
    servers: list[BatchServer] = []

    def start(**options: Any) -> BatchServer:
        servers.append(BatchServer(**options))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def ask(text: str, sample_index: int = 0) -> ChatRequest:
    messages = (ChatMessage("system", "Answer."), ChatMessage("user", text))
    return ChatRequest(item_id=text, messages=messages, sample_index=sample_index)


def batch_reasoner(server: BatchServer | str, **runtime: Any) -> OpenAIReasoner:
    url = server if isinstance(server, str) else server.url
    options = {"base_url": url, "batch_api": True, "batch_poll_s": 0.01, **runtime}
    return OpenAIReasoner(
        {"model": "gpt-4o", "max_tokens": 50, "extra_body": {"top_k": 5}}, options
    )


def test_batch_answers_in_order_with_traces_and_usage(batch_server: Any) -> None:
    server = batch_server()
    responses = batch_reasoner(server).generate([ask("q A"), ask("think B", 3), ask("q C")])
    assert [r.text for r in responses] == ["ANSWER: A", "ANSWER: B", "ANSWER: C"]
    assert [r.reasoning for r in responses] == ["", "thought about it", ""]
    assert all(r.ok and r.prompt_tokens == 5 and r.completion_tokens == 3 for r in responses)
    assert server.polls == 2


def test_batch_bodies_are_what_the_online_path_sends(batch_server: Any) -> None:
    server = batch_server()
    batch_reasoner(server).generate([ask("q A"), ask("q B", sample_index=2)])
    (batch_id,) = server.batches
    lines = server.requests(batch_id)
    assert [line["custom_id"] for line in lines] == ["0", "1"]
    assert {line["url"] for line in lines} == {"/v1/chat/completions"}
    first, second = (line["body"] for line in lines)
    assert first["model"] == "gpt-4o" and first["max_completion_tokens"] == 50
    assert first["top_k"] == 5 and "extra_body" not in first and "stream" not in first
    assert first["messages"] == [
        {"role": "system", "content": "Answer."},
        {"role": "user", "content": "q A"},
    ]
    assert (first["seed"], second["seed"]) == (0, 2)


def test_failed_lines_fail_their_requests_only(batch_server: Any) -> None:
    server = batch_server(fail={"q B": 400})
    responses = batch_reasoner(server).generate([ask("q A"), ask("q B"), ask("q C")])
    assert [r.ok for r in responses] == [True, False, True]
    assert responses[1].text == "" and responses[1].error is not None
    assert responses[1].error.startswith("HTTP 400 (batch line): scripted 400")


def test_expired_batch_fails_the_requests_it_did_not_do(batch_server: Any) -> None:
    server = batch_server(end_state="expired")
    responses = batch_reasoner(server).generate([ask("q A"), ask("q B")])
    assert responses[0].ok and responses[0].text == "ANSWER: A"
    assert responses[1].error is not None and "ended expired" in responses[1].error


def test_unfinished_batch_is_cancelled_after_the_timeout(batch_server: Any) -> None:
    server = batch_server(end_state="never")
    responses = batch_reasoner(server, batch_timeout_s=0.05).generate([ask("q A")])
    assert responses[0].error is not None and "ended cancelled" in responses[0].error


def test_a_server_without_the_batch_api_fails_every_request_with_the_status(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.test_reasoner_openai import FaultServer, Reply

    monkeypatch.setenv("CASCADE_TEST_API_KEY", "sk-batch-secret")
    with FaultServer([Reply(status=404, body='{"error": {"message": "sk-batch-secret?"}}')]) as s:
        runtime = {"base_url": s.url, "batch_api": True, "api_key_env": "CASCADE_TEST_API_KEY"}
        responses = OpenAIReasoner({"model": "m"}, runtime).generate([ask("q A"), ask("q B")])
    assert [r.ok for r in responses] == [False, False]
    assert all(r.error and r.error.startswith("batch API: HTTP 404") for r in responses)
    assert all("sk-batch-secret" not in (r.error or "") for r in responses)
    assert len(s.seen) == 1 and s.seen[0].path == "/v1/files"


ROOT = Path(__file__).resolve().parent.parent
KILLED_RUN = """
import sys
from tests.test_reasoner_openai_batch import ask, batch_reasoner
batch_reasoner(sys.argv[1], batch_poll_s=600).generate([ask(t) for t in sys.argv[2:]])
"""


def killed_run(server: BatchServer, texts: list[str], records: Path) -> None:
    """A run that submits `texts` as a batch and is killed while it waits for the answers."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CASCADE_CACHE": str(records.parent)}
    run = subprocess.Popen([sys.executable, "-c", KILLED_RUN, server.url, *texts], env=env)
    try:
        deadline = time.monotonic() + 60
        while not list(records.glob("*.json")):
            assert run.poll() is None, "the run ended before submitting"
            assert time.monotonic() < deadline, "the run never submitted its batch"
            time.sleep(0.05)
    finally:
        run.kill()
        run.wait()
    assert server.created == 1 and server.polls == 0  # killed while waiting


def test_a_killed_run_reattaches_to_the_batch_it_submitted(
    batch_server: Any, records: Path
) -> None:
    server = batch_server()
    killed_run(server, ["q A", "q B"], records)
    (other,) = batch_reasoner(server).generate([ask("q B")])  # another request set
    assert other.text == "ANSWER: B" and server.created == 2
    responses = batch_reasoner(server).generate([ask("q A"), ask("q B")])
    assert [r.text for r in responses] == ["ANSWER: A", "ANSWER: B"]
    assert (server.uploads, server.created) == (2, 2)  # the killed run's batch, not a third
    assert list(records.iterdir()) == []  # read: the record is gone


def test_a_batch_the_provider_no_longer_knows_is_submitted_anew(
    batch_server: Any, records: Path
) -> None:
    server = batch_server()
    killed_run(server, ["q A"], records)
    server.batches.clear()
    (response,) = batch_reasoner(server).generate([ask("q A")])
    assert response.text == "ANSWER: A"
    assert (server.uploads, server.created) == (2, 2)


def test_an_unreachable_provider_keeps_the_record(batch_server: Any, records: Path) -> None:
    server = batch_server()
    killed_run(server, ["q A"], records)
    (record,) = records.iterdir()
    server.close()
    (failed,) = batch_reasoner(server, max_retries=0).generate([ask("q A")])
    assert failed.error is not None and failed.error.startswith("batch API: cannot reach")
    assert record.exists()  # the next run re-attaches


def test_a_batch_whose_results_were_read_is_not_reused(batch_server: Any, records: Path) -> None:
    """Requests that failed in a finished batch are sent again by the next run."""
    server = batch_server(fail={"q B": 500})
    first = batch_reasoner(server).generate([ask("q B")])
    second = batch_reasoner(server).generate([ask("q B")])
    assert not first[0].ok and not second[0].ok
    assert server.created == 2 and list(records.iterdir()) == []
