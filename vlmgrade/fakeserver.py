"""A scripted OpenAI-compatible HTTP server on 127.0.0.1, for tests and benchmarks.

It speaks enough of `/v1/chat/completions` for the real `openai` client: a `reply` function decides
each answer from the request body (scores, unparsable text, an HTTP error with headers, a dropped
connection, a hang), and every request is recorded so a test can count what was sent.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """What the server does with one request."""

    content: str = ""
    status: int = 200
    headers: dict = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    hang: float = 0.0  # seconds to wait before acting (a hang longer than the client timeout)
    logprobs: list | None = None  # chat-completions `logprobs.content` entries, sent when given


def body_digest(body: dict) -> str:
    """Identity of a request: its messages and model, as the judge would see them."""
    return hashlib.sha256(json.dumps([body.get("model"), body.get("messages")], sort_keys=True).encode()).hexdigest()


def scripted_scores(body: dict, criteria: tuple[str, ...], lo: int = 1, hi: int = 10) -> dict[str, int]:
    """Deterministic per-request scores: what a test expects the judge to have said."""
    digest = body_digest(body)
    return {c: lo + int(digest[2 * i:2 * i + 8], 16) % (hi - lo + 1) for i, c in enumerate(criteria)}


class FakeOpenAI:
    def __init__(self, reply: Callable[[dict, int], Reply], latency: float = 0.0, port: int = 0) -> None:
        self.reply, self.latency = reply, latency
        self.requests: list[dict] = []  # every body received, in order
        self.answered: list[dict] = []  # bodies whose 200 answer was written out
        self.auth_headers: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.auth_headers.append(self.headers.get("authorization", ""))
                    count = len(server.requests)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                r = server.reply(body, count)
                if server.latency:
                    time.sleep(server.latency)
                if r.hang:
                    time.sleep(r.hang)
                if r.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return None
                if r.status != 200:
                    return self._send(r.status, {"error": {"message": r.content or "scripted error",
                                                           "type": "scripted"}}, r.headers)
                payload = {"id": f"chatcmpl-{count}", "object": "chat.completion", "created": int(time.time()),
                           "model": body.get("model", ""),
                           "choices": [{"index": 0, "finish_reason": "stop",
                                        "message": {"role": "assistant", "content": r.content},
                                        "logprobs": {"content": r.logprobs} if r.logprobs else None}],
                           "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}
                self._send(200, payload, r.headers)
                with server._lock:
                    server.answered.append(body)
                return None

            def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default 5 refuses connections under a judge's concurrency

            def handle_error(self, request, client_address) -> None:
                pass  # a client that went away mid-answer (killed, timed out) is part of the script

        self.httpd = Server(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
