"""A stand-in judge: an HTTP server speaking OpenAI's chat-completions API, for parity tests.

Its reply to a request depends only on the item (read from an `[item <id>]` tag the test
predictions carry in their reasoning) and on how many requests with the same body it has seen
before (the call number): any client asking the same questions in the same order per item gets
the same replies, whatever the order across items. Besides valid judgements it gives the replies
the official MMAR-Rubrics script must survive: unreadable text, a JSON object instead of a list,
a wrong number of points, a score outside the choices, a string, NaN or boolean score, empty
content, HTTP 429 (and a 503 whose message speaks of the rate), 500 and 400, and a reply slower
than the client's timeout. Item tags select a fixed behaviour (`[judge never]`: a rater that
never succeeds; `[judge 500]`, `[judge 400]`, `[judge rate]`, `[judge timeout]`, `[judge
401]`, `[judge quota]`); other items get a deterministic mix.

Used by tests/test_rubrics.py and by scripts/make_rubrics_golden.py (which runs MMAR's
unmodified official script against it).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_ITEM = re.compile(r"\[item ([^\]\s]+)\]")
_MODE = re.compile(r"\[judge ([a-z0-9-]+)\]")
_NAME = re.compile(r'^"name": "(.*)",$', re.MULTILINE)
_CHOICES = re.compile(r"^\"score\": \[Assign a score from \[([^\]]*)\]\],$", re.MULTILINE)

TIMEOUT_S = 1.0
"""The client timeout the parity runs use; a `timeout` reply arrives later than this."""


@dataclass(frozen=True)
class Reply:
    status: int = 200
    content: str | None = ""
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0
    error: dict[str, Any] | None = None


def _unit(*parts: object) -> float:
    digest = hashlib.sha256("\x00".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _judgement(item: str, call: int, names: list[str], choices: list[list[Any]]) -> list[Any]:
    return [
        {
            "name": name,
            "score": options[int(_unit(item, call, n) * len(options))],
            "justification": f"Point {n} of {item}, call {call}.",
        }
        for n, (name, options) in enumerate(zip(names, choices, strict=True))
    ]


def _rate_limited() -> Reply:
    return Reply(
        429,
        error={"message": "Rate limit reached for requests", "type": "requests"},
        headers=(("retry-after-ms", "5"),),
    )


def _failing(status: int, message: str) -> Reply:
    return Reply(status, error={"message": message, "type": "server_error"})


_QUESTION = re.compile(r"^- Question: (.*)$", re.MULTILINE)


def untagged_key(question: str) -> str:
    """The name the server gives an item whose reasoning carries no `[item <id>]` tag."""
    return "q-" + hashlib.sha256(question.encode()).hexdigest()[:12]


def item_of(user_prompt: str) -> str:
    """The item a request is about: its `[item <id>]` tag, else a name made from its question."""
    tags = _ITEM.findall(user_prompt)
    if tags:
        return str(tags[-1])
    question = _QUESTION.search(user_prompt)
    return untagged_key(question[1] if question else "")


def reply_for(user_prompt: str, call: int) -> Reply:
    """The stand-in judge's reply to the `call`-th request (from 0) with this user prompt."""
    item = item_of(user_prompt)
    mode = (_MODE.findall(user_prompt) or ["mixed"])[-1]
    names = _NAME.findall(user_prompt)
    choices = [json.loads(f"[{c}]") for c in _CHOICES.findall(user_prompt)]
    valid = json.dumps(_judgement(item, call, names, choices), indent=1)
    if mode == "never":
        return Reply(content=f"I cannot score this ({call}).")
    if mode == "401":
        return Reply(401, error={"message": "Incorrect API key provided", "type": "auth"})
    if mode == "quota":
        return Reply(
            429,
            error={
                "message": "You exceeded your current quota, please check your plan.",
                "type": "insufficient_quota",
                "code": "insufficient_quota",
            },
        )
    if mode == "500":
        return _failing(500, "The server had an error while processing your request.")
    if mode == "400" and call == 0:
        return _failing(400, "Invalid request: the prompt was flagged.")
    if mode == "rate" and call < 4:
        return _rate_limited()
    if mode == "timeout" and call in (0, 1, 2):
        return Reply(content=valid, delay_s=TIMEOUT_S * 1.6)
    if mode != "mixed":
        return Reply(content=valid)
    return _mixed(item, call, names, choices, valid)


def _mixed(item: str, call: int, names: list[str], choices: list[list[Any]], valid: str) -> Reply:
    draw = _unit(item, call, "kind")
    kinds: list[tuple[float, Any]] = [
        (0.05, lambda: Reply(content="The reasoning is sound; I award full marks.")),
        (0.04, lambda: Reply(content=json.dumps(_judgement(item, call, names, choices)[0]))),
        (0.04, lambda: Reply(content=json.dumps(_judgement(item, call, names, choices)[1:]))),
        (0.04, lambda: Reply(content=valid.replace('"score": 1', '"score": 2', 1))),
        (0.03, lambda: Reply(content=valid.replace('"score": 0', '"score": "0"', 1))),
        (0.02, lambda: Reply(content=valid.replace('"score": 0', '"score": NaN', 1))),
        (0.03, lambda: Reply(content=valid.replace('"score": 1', '"score": true', 1))),
        (0.03, lambda: Reply(content=valid.replace('"score": 1', '"score": 1.0', 1))),
        (0.03, lambda: Reply(content=valid.replace('"name": "', '"name": "renamed ', 1))),
        (0.03, lambda: Reply(content=valid.replace('"score"', '"points"', 1))),
        (0.03, lambda: Reply(content=f"Here is my evaluation:\n```json\n{valid}\n```\nDone.")),
        (0.02, lambda: Reply(content=f"{valid}\nCompare [{{'other': 1}}] too.")),
        (0.03, lambda: Reply(content=None)),
        (0.02, _rate_limited),
        (0.01, lambda: _failing(503, "Overloaded: please lower your request rate.")),
    ]
    edge = 0.0
    for share, make in kinds:
        edge += share
        if draw < edge:
            made: Reply = make()
            return made
    return Reply(content=valid)


@dataclass
class Received:
    """What the server was sent: every request body in arrival order, and calls per body."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)


class StandInJudge:
    """The stand-in judge on 127.0.0.1 (a free port), as a context manager: `base_url`."""

    def __init__(self) -> None:
        self.received = Received()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length))
                key = json.dumps(body, sort_keys=True)
                with received.lock:
                    call = received.calls[key]
                    received.calls[key] += 1
                    received.bodies.append(body)
                user = next((m["content"] for m in body["messages"] if m["role"] == "user"), "")
                reply = reply_for(user, call)
                time.sleep(reply.delay_s)
                if reply.status == 200:
                    payload: dict[str, Any] = {
                        "id": f"chatcmpl-{call}",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body.get("model"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply.content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": len(user) // 4,
                            "completion_tokens": len(reply.content or "") // 4,
                            "total_tokens": (len(user) + len(reply.content or "")) // 4,
                        },
                    }
                else:
                    payload = {"error": reply.error}
                data = json.dumps(payload).encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for name, value in reply.headers:
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout reply)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that gave up (the command stopped): nothing to report

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> StandInJudge:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def bodies_by_item(self) -> dict[str, list[dict[str, Any]]]:
        """Every request body received, by the item tag in its user prompt, in arrival order."""
        found: dict[str, list[dict[str, Any]]] = {}
        for body in self.received.bodies:
            user = next(m["content"] for m in body["messages"] if m["role"] == "user")
            found.setdefault(item_of(user), []).append(body)
        return found
