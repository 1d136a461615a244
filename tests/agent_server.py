"""A stand-in orchestrator: an OpenAI-compatible chat server with native tool calls.

On a conversation without tool results it calls every tool it is offered (the first with a
window that runs past the clip's end, to exercise clipping); once the results are back it answers
with the letter the tools reported (`letter X` in a tool output), so that a right answer proves
the outputs reached the model. Every request body is recorded in `seen`.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_LETTER = re.compile(r"letter ([A-F])")


class OrchestratorServer:
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with server._lock:
                    server.seen.append(body)
                data = json.dumps(server.reply(body)).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def reply(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body["messages"]
        results = [m["content"] for m in messages if m["role"] == "tool"]
        message: dict[str, Any]
        if not results and body.get("tools"):
            calls = []
            for n, tool in enumerate(body["tools"]):
                function = tool["function"]
                args: dict[str, Any] = {"start_s": 0.1, "end_s": 99} if n == 0 else {}
                if "question" in function["parameters"]["properties"]:
                    args["question"] = "What letter is spoken?"
                calls.append(
                    {
                        "id": f"call_{n}",
                        "type": "function",
                        "function": {"name": function["name"], "arguments": json.dumps(args)},
                    }
                )
            message = {"role": "assistant", "content": None, "tool_calls": calls}
            finish = "tool_calls"
        else:
            found = _LETTER.search("\n".join(results))
            letter = found.group(1) if found else "A"
            message = {
                "role": "assistant",
                "content": f"The tools say letter {letter}.\nANSWER: {letter}",
            }
            finish = "stop"
        return {
            "id": "chatcmpl-agent",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "?"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
        }

    def __enter__(self) -> OrchestratorServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
