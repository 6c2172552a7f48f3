"""A stub OpenAI-compatible chat endpoint on loopback, recording what it was sent."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StubEndpoint(ThreadingHTTPServer):
    """An OpenAI-compatible chat endpoint on loopback that answers ``answer``.

    With ``refuse_json_schema`` it answers OpenAI's json_schema format with
    HTTP 500, as llama.cpp's Python server does.
    """

    def __init__(self, answer: str, refuse_json_schema: bool) -> None:
        super().__init__(("127.0.0.1", 0), StubHandler)
        self.answer = answer
        self.refuse_json_schema = refuse_json_schema
        self.requests: list[tuple[dict[str, Any], str]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class StubHandler(BaseHTTPRequestHandler):
    server: StubEndpoint

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((body, self.headers.get("Authorization", "")))
        if self.server.refuse_json_schema and body["response_format"]["type"] == "json_schema":
            self.reply(500, {"error": {"message": "json_schema is not supported", "code": 500}})
            return
        message = {"role": "assistant", "content": self.server.answer}
        self.reply(
            200,
            {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            },
        )

    def reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""
