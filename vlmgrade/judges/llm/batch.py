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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vlmgrade.core.errors import UserError
from vlmgrade.judges.llm.openai import Reply, usage_of

MAX_PER_BATCH = 50_000  # OpenAI's limit of requests per batch
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
        if bar is not None:
            bar.set(len(poll.answers) + len(poll.errors) + done_counts)
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
            done_counts += (counts.completed + counts.failed) if counts else 0
            if batch.status not in DONE_STATES:
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
        content = await client.files.content(file_id)
        for line in content.text.splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            key, response = row["custom_id"], row.get("response") or {}
            body = response.get("body") or {}
            if response.get("status_code") == 200 and body.get("choices"):
                got[key] = Reply(body["choices"][0]["message"].get("content") or "", usage_of(body.get("usage")),
                                 batch=batch.id)
            else:
                error = row.get("error") or body.get("error") or {}
                failed[key] = f"batch request failed: {error.get('message', response.get('status_code'))}"
    if batch.status == "failed" and not got and not failed:
        errors = getattr(batch, "errors", None)
        raise UserError(f"batch {batch.id} failed: {errors}")
    return got, failed
