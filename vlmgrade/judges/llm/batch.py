"""The OpenAI Batch API: a run's judge requests as batches (files API + /v1/batches), at half price.

Each request's `custom_id` is its cache key, so the judging stage stores batch answers where direct
ones go. This module owns the transport only: it never touches the cache. Submitted batches are
recorded through a `PendingBatches` store (the judging stage backs it with the cache) and in the run
folder before polling starts, so a run killed after submitting polls them on its next start instead
of submitting again; each batch's answers go to `on_answers` the moment its output is read.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from vlmgrade.core.errors import UserError
from vlmgrade.judges.llm.openai import MAX_REPLY_CHARS, Reply, redact, usage_of

MAX_PER_BATCH = 50_000  # OpenAI's limit of requests per batch
MAX_LINE_BYTES = 8 * MAX_REPLY_CHARS  # one output line: a whole reply, JSON-escaped, with its envelope
ID_HEAD_BYTES = 4096  # of an overlong line, what is read for its custom_id (it comes first in OpenAI's lines)
DONE_STATES = ("completed", "failed", "expired", "cancelled")


@dataclass(frozen=True)
class PendingBatches:
    """Where submitted, not yet collected batches are recorded: [{id, endpoint, keys, submitted}]."""

    load: Callable[[], list[dict]]
    save: Callable[[list[dict]], None]


async def run_batches(client: Any, endpoint: str, bodies: dict[str, dict], pending_store: PendingBatches,
                      on_submitted: Callable[[list[dict]], None], on_answers: Callable[[dict[str, Reply]], None],
                      poll_s: float = 5.0,
                      bar: Any = None, deadline: float | None = None) -> tuple[dict[str, Reply], dict[str, str]]:
    """Answers for `bodies` (cache key -> chat request body): ({key: Reply}, {key: error}). Polling stops at
    `deadline` (time.monotonic()); batches still running then stay pending, and a rerun polls them again."""
    pending = await _submit(client, endpoint, bodies, pending_store)
    wanted = [b for b in pending if set(b["keys"]) & set(bodies)]
    on_submitted([{"id": b["id"], "requests": len(b["keys"])} for b in wanted])  # the run folder notes them
    poll = _Poll(client, pending_store, on_answers)
    remaining = {b["id"]: b for b in wanted}
    while remaining:
        done_counts = await poll.once(remaining)
        if bar is not None:  # a batch sent by an earlier run may hold more requests than this run asks
            bar.set(min(len(bodies), len(poll.answers) + len(poll.errors) + done_counts))
        if remaining and deadline is not None and time.monotonic() + poll_s > deadline:
            for batch_id, info in remaining.items():
                for k in info["keys"]:
                    poll.errors.setdefault(k, f"deadline: batch {batch_id} still running on the server (a rerun "
                                              "polls it again; nothing is submitted twice)")
            break
        if remaining:
            await asyncio.sleep(poll_s)
    return poll.answers, poll.errors


async def _submit(client: Any, endpoint: str, bodies: dict[str, dict], pending_store: PendingBatches) -> list[dict]:
    """The endpoint's pending batches, plus new ones for the bodies none of them covers."""
    pending = [b for b in pending_store.load() if b["endpoint"] == endpoint]
    covered = {k for b in pending for k in b["keys"]}
    todo = [k for k in bodies if k not in covered]
    for start in range(0, len(todo), MAX_PER_BATCH):
        keys = todo[start:start + MAX_PER_BATCH]
        lines = "".join(json.dumps({"custom_id": k, "method": "POST", "url": "/v1/chat/completions",
                                    "body": bodies[k]}) + "\n" for k in keys)
        upload = await client.files.create(file=("vlmgrade-batch.jsonl", io.BytesIO(lines.encode())), purpose="batch")
        batch = await client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                            completion_window="24h", metadata={"tool": "vlmgrade"})
        if redact(str(batch.id)) != str(batch.id):  # it is kept in the cache and batches.json: the key may not be
            raise UserError("the batch server answered with a batch id holding the API key; not recorded")
        pending.append({"id": batch.id, "endpoint": endpoint, "keys": keys, "submitted": time.time()})
        # recorded before any wait: a kill from here on resumes by polling, never by submitting again
        pending_store.save([b for b in pending_store.load() if b["endpoint"] != endpoint] + pending)
    return pending


@dataclass
class _Poll:
    """The answers and errors collected so far, batch by batch."""

    client: Any
    pending_store: PendingBatches
    on_answers: Callable[[dict[str, Reply]], None]
    answers: dict[str, Reply] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    async def once(self, remaining: dict[str, dict]) -> int:
        """Check every remaining batch once; collect (and drop from `remaining`) the finished ones. Returns the
        requests the unfinished ones report done, for the bar."""
        done_counts = 0
        for batch_id, info in list(remaining.items()):
            batch = await self.client.batches.retrieve(batch_id)
            counts = batch.request_counts
            if batch.status not in DONE_STATES:
                # only a batch still running counts here: a finished one is counted by its answers, once
                done_counts += (counts.completed + counts.failed) if counts else 0
                continue
            got, failed = await _collect(self.client, batch)
            self.on_answers(got)  # stored before the batch leaves the pending list: a kill loses nothing
            self.answers.update(got)
            self.errors.update(failed)
            for k in info["keys"]:
                if k not in got and k not in failed:
                    self.errors[k] = f"batch {batch_id} {batch.status} without an answer for this request"
            del remaining[batch_id]
            self.pending_store.save([b for b in self.pending_store.load() if b["id"] != batch_id])
        return done_counts


async def _collect(client: Any, batch: Any) -> tuple[dict[str, Reply], dict[str, str]]:
    got: dict[str, Reply] = {}
    failed: dict[str, str] = {}
    for file_id in (batch.output_file_id, batch.error_file_id):
        if not file_id:
            continue
        async for line, whole in _lines(client, file_id):
            if not whole:  # over the cap: unscored with the reason, when the line says whose answer it is
                key = _custom_id(line)
                if key is not None:
                    failed[key] = f"batch answer line over {MAX_LINE_BYTES:,} bytes: not read"
                continue
            if line.strip():
                _one(line, batch.id, got, failed)
    if batch.status == "failed" and not got and not failed:
        errors = getattr(batch, "errors", None)
        raise UserError(redact(f"batch {batch.id} failed: {errors}"))
    return got, failed


def _one(line: bytes, batch_id: str, got: dict[str, Reply], failed: dict[str, str]) -> None:
    """One output line into `got` (an answer) or `failed` (why there is none). An empty answer is no answer:
    kept, it would be cached and never asked again."""
    try:
        row = json.loads(line)
        key, response = str(row["custom_id"]), row.get("response") or {}
        body = response.get("body") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        return  # not a batch output line: its request is reported as left without an answer
    if response.get("status_code") == 200 and body.get("choices"):
        content = ((body["choices"][0] or {}).get("message") or {}).get("content") or ""
        if not isinstance(content, str) or not content.strip():
            failed[key] = "batch answer empty"
        elif len(content) > MAX_REPLY_CHARS:
            failed[key] = f"a batch answer of {len(content)} characters (at most {MAX_REPLY_CHARS:,} are kept)"
        else:
            got[key] = Reply(content, usage_of(body.get("usage")), batch=batch_id)
    else:
        error = row.get("error") or body.get("error") or {}
        message = error.get("message", response.get("status_code")) if isinstance(error, dict) else error
        failed[key] = redact(f"batch request failed: {message}")[:500]


async def _lines(client: Any, file_id: str) -> AsyncIterator[tuple[bytes, bool]]:
    """(line, whole) for each line of a batch file, streamed: the file is never held whole (OpenAI's can be
    gigabytes), and a line over MAX_LINE_BYTES comes as its first ID_HEAD_BYTES with whole=False."""
    cut = _LineCutter()
    async with client.files.with_streaming_response.content(file_id) as response:
        async for chunk in response.iter_bytes():
            for item in cut.feed(chunk):
                yield item
    for item in cut.end():
        yield item


@dataclass
class _LineCutter:
    """Bytes in, (line, whole) out; of a line over MAX_LINE_BYTES only the head is kept, the rest dropped as
    it arrives."""

    parts: list[bytes] = field(default_factory=list)
    size: int = 0

    def feed(self, chunk: bytes) -> list[tuple[bytes, bool]]:
        *complete, rest = chunk.split(b"\n")
        out = []
        for piece in complete:
            self._add(piece)
            out.append(self._line())
        self._add(rest)
        return out

    def end(self) -> list[tuple[bytes, bool]]:
        return [self._line()] if self.size else []

    def _add(self, piece: bytes) -> None:
        if self.size <= MAX_LINE_BYTES:  # past the cap, nothing more of this line is kept
            self.parts.append(piece)
        self.size += len(piece)

    def _line(self) -> tuple[bytes, bool]:
        line, whole = b"".join(self.parts), self.size <= MAX_LINE_BYTES
        self.parts, self.size = [], 0
        return (line, True) if whole else (line[:ID_HEAD_BYTES], False)


def _custom_id(head: bytes) -> str | None:
    import re

    found = re.search(rb'"custom_id"\s*:\s*"([^"\\]{1,200})"', head)
    return found.group(1).decode(errors="replace") if found else None
