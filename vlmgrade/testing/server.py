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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import socket


@dataclass
class Reply:
    """What the server does with one request."""

    content: str = ""
    status: int = 200
    headers: dict = field(default_factory=dict)
    drop: bool = False  # close the connection without answering
    hang: float = 0.0  # seconds to wait before acting (a hang longer than the client timeout)
    logprobs: list | None = None  # chat-completions `logprobs.content` entries, sent when given
    usage: dict | None = None  # the usage figures to report (default 100 + 20 tokens)
    raw: bytes | None = None  # send these bytes as the whole body instead (with raw_type), e.g. an HTML page
    raw_type: str = "text/html"


def body_digest(body: dict) -> str:
    """Identity of a request: its messages and model, as the judge would see them."""
    return hashlib.sha256(json.dumps([body.get("model"), body.get("messages")], sort_keys=True).encode()).hexdigest()


def scripted_scores(body: dict, criteria: tuple[str, ...], lo: int = 1, hi: int = 10) -> dict[str, int]:
    """Deterministic per-request scores: what a test expects the judge to have said."""
    digest = body_digest(body)
    return {c: lo + int(digest[2 * i:2 * i + 8], 16) % (hi - lo + 1) for i, c in enumerate(criteria)}


class FakeOpenAI:
    def __init__(self, reply: Callable[[dict, int], Reply], latency: float = 0.0, port: int = 0,
                 batch_delay: float = 0.0, record: bool = True) -> None:
        self.reply, self.latency, self.batch_delay = reply, latency, batch_delay
        # record=False (benchmarks) keeps no bodies: a server whose heap grows with every request gets
        # slower as it goes, and whatever is measured later would pay for what was measured earlier
        self.record = record
        self.received = 0  # chat requests received directly, recorded or not
        self.requests: list[dict] = []  # every chat body received directly, in order
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}  # the Batch API: id -> batch object (plus internal fields)
        self.batch_bodies: list[dict] = []  # chat bodies answered inside batches
        self.answered: list[dict] = []  # bodies whose 200 answer was written out
        self.auth_headers: list[str] = []
        self._lock = threading.Lock()
        self.httpd = _Server(("127.0.0.1", port), _Handler)
        self.httpd.fake = self
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _count(self, body: dict, authorization: str) -> int:
        """Count (and, recording, keep) one request sent directly; its number, from 1."""
        with self._lock:
            self.received += 1
            count = self.received
            if self.record:
                self.requests.append(body)
                self.auth_headers.append(authorization)
        return count

    # ------------------------------------------------------------------ files and batches
    def _upload(self, content_type: str, raw: bytes) -> dict:
        from email.parser import BytesParser
        from email.policy import HTTP

        message = BytesParser(policy=HTTP).parsebytes(b"content-type: " + content_type.encode() + b"\r\n\r\n" + raw)
        data = next(p.get_payload(decode=True) for p in message.iter_parts() if p.get_filename())
        with self._lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = data
        return {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
                "filename": "batch.jsonl", "purpose": "batch", "status": "processed"}

    def _create_batch(self, body: dict) -> dict:
        with self._lock:
            batch_id = f"batch-{len(self.batches) + 1}"
            lines = self.files[body["input_file_id"]].decode().splitlines()
            self.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
                "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
                "status": "in_progress", "output_file_id": None, "error_file_id": None,
                "created_at": int(time.time()), "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "_ready_at": time.time() + self.batch_delay}
            return self._public(self.batches[batch_id])

    def _batch(self, batch_id: str) -> dict | None:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            if batch["status"] == "in_progress" and time.time() >= batch["_ready_at"]:
                out = []
                for line in self.files[batch["input_file_id"]].decode().splitlines():
                    request = json.loads(line)
                    self.batch_bodies.append(request["body"])
                    r = self.reply(request["body"], len(self.batch_bodies))
                    chat = {"id": f"chatcmpl-b{len(out)}", "object": "chat.completion", "created": int(time.time()),
                            "model": request["body"].get("model", ""),
                            "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": r.content}}],
                            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}
                    out.append(json.dumps({"id": f"req-{len(out)}", "custom_id": request["custom_id"],
                                           "response": {"status_code": 200, "body": chat}, "error": None}))
                file_id = f"file-{len(self.files) + 1}"
                self.files[file_id] = ("\n".join(out) + "\n").encode()
                batch.update(status="completed", output_file_id=file_id)
                batch["request_counts"]["completed"] = len(out)
            return self._public(batch)

    @staticmethod
    def _public(batch: dict) -> dict:
        return {k: v for k, v in batch.items() if not k.startswith("_")}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 refuses connections under a judge's concurrency
    fake: FakeOpenAI  # the server's script and records, read by each request's handler

    def handle_error(self, request: socket.socket | tuple[bytes, socket.socket],
                     client_address: tuple[str, int]) -> None:
        pass  # a client that went away mid-answer (killed, timed out) is part of the script


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        fake = self.server.fake
        parts = self.path.split("?")[0].rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == "batches":
            batch = fake._batch(parts[-1])
            return self._send(200, batch) if batch else self._send(404, {"error": {"message": "no batch"}})
        if parts[-1] == "content" and parts[-2] in fake.files:
            self._send_bytes(200, "application/octet-stream", fake.files[parts[-2]])
            return None
        return self._send(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        fake = self.server.fake
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        if self.path.rstrip("/").endswith("/files"):
            return self._send(200, fake._upload(self.headers.get("content-type", ""), raw))
        if self.path.rstrip("/").endswith("/batches"):
            return self._send(200, fake._create_batch(json.loads(raw)))
        body = json.loads(raw or b"{}")
        count = fake._count(body, self.headers.get("authorization", ""))
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        self._answer(body, count)
        return None

    def _answer(self, body: dict, count: int) -> None:
        """Act out the script's reply to chat request number `count`."""
        fake = self.server.fake
        r = fake.reply(body, count)
        if fake.latency:
            time.sleep(fake.latency)
        if r.hang:
            time.sleep(r.hang)
        if r.drop:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if r.raw is not None:
            self._send_bytes(r.status, r.raw_type, r.raw)
            return
        if r.status != 200:
            self._send(r.status, {"error": {"message": r.content or "scripted error", "type": "scripted"}}, r.headers)
            return
        self._send(200, _completion(body, count, r), r.headers)
        if fake.record:
            with fake._lock:
                fake.answered.append(body)

    def _send_bytes(self, status: int, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)


def _completion(body: dict, count: int, r: Reply) -> dict:
    """The chat.completion object of a scripted 200 answer."""
    return {"id": f"chatcmpl-{count}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": r.content},
                         "logprobs": {"content": r.logprobs} if r.logprobs else None}],
            "usage": r.usage if r.usage is not None else
            {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}
