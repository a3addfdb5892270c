"""The OpenAI Batch API: a run's judge requests as batches (files API + /v1/batches), at half price.

Each request's `custom_id` is its cache key, so results land in the same cache as direct requests.
Submitted batches are recorded in the cache (and the run folder) before polling starts: a run killed
after submitting finds them on its next start and polls them instead of submitting again.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

from vlmgrade.cache import Cache
from vlmgrade.errors import UserError

MAX_PER_BATCH = 50_000  # OpenAI's limit of requests per batch
PENDING = "pending_batches"  # meta-table key: [{id, endpoint, keys}] submitted and not yet collected
DONE_STATES = ("completed", "failed", "expired", "cancelled")


def _pending(cache: Cache) -> list[dict]:
    return (cache.get("meta", PENDING) or {}).get("batches", [])


def _set_pending(cache: Cache, batches: list[dict]) -> None:
    cache.put("meta", PENDING, {"batches": batches})


async def run_batches(client, endpoint: str, bodies: dict[str, dict], cache: Cache, out: Path | None,
                      poll_s: float = 5.0, bar=None) -> tuple[dict[str, dict], dict[str, str]]:
    """Answers for `bodies` (cache key -> chat request body): ({key: {raw, usage}}, {key: error}).

    Every answer is committed to the cache as soon as its batch's output is read.
    """
    pending = [b for b in _pending(cache) if b["endpoint"] == endpoint]
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
        _set_pending(cache, [b for b in _pending(cache) if b["endpoint"] != endpoint] + pending)
    wanted = [b for b in pending if set(b["keys"]) & set(bodies)]
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "batches.json").write_text(json.dumps([{"id": b["id"], "requests": len(b["keys"])} for b in wanted],
                                                     indent=2) + "\n")
    answers: dict[str, dict] = {}
    errors: dict[str, str] = {}
    remaining = {b["id"]: b for b in wanted}
    while remaining:
        done_counts = 0
        for batch_id, info in list(remaining.items()):
            batch = await client.batches.retrieve(batch_id)
            counts = batch.request_counts
            done_counts += (counts.completed + counts.failed) if counts else 0
            if batch.status not in DONE_STATES:
                continue
            got, failed = await _collect(client, batch, cache)
            answers.update(got)
            errors.update(failed)
            for k in info["keys"]:
                if k not in got and k not in failed:
                    errors[k] = f"batch {batch_id} {batch.status} without an answer for this request"
            del remaining[batch_id]
            _set_pending(cache, [b for b in _pending(cache) if b["id"] != batch_id])
        if bar is not None:
            bar.set(len(answers) + len(errors) + done_counts)
        if remaining:
            await asyncio.sleep(poll_s)
    return answers, errors


async def _collect(client, batch, cache: Cache) -> tuple[dict[str, dict], dict[str, str]]:
    got: dict[str, dict] = {}
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
                usage = body.get("usage") or {}
                hit = {"raw": body["choices"][0]["message"].get("content") or "",
                       "usage": {k: usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")},
                       "batch": batch.id}
                got[key] = hit
            else:
                error = row.get("error") or body.get("error") or {}
                failed[key] = f"batch request failed: {error.get('message', response.get('status_code'))}"
    cache.put_many("judgments", list(got.items()))
    if batch.status == "failed" and not got and not failed:
        errors = getattr(batch, "errors", None)
        raise UserError(f"batch {batch.id} failed: {errors}")
    return got, failed
