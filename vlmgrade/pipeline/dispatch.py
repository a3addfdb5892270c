"""Sending a judging plan: every job answered from the cache or the judge, within budget and deadline.

Up to `--concurrency` distinct requests fly at once, within `--rpm`/`--tpm` (or go as Batch API jobs
first); jobs that share a request are settled from its one answer. Each answer is handed to the cache
thread the moment it arrives, so a killed run resumes without paying twice. The first new request goes
alone: a server that refuses it stops the run after one request instead of one per caption.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
import uuid
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from vlmgrade.core.errors import UserError
from vlmgrade.core.options import BudgetOptions, JudgingOptions
from vlmgrade.core.progress import progress_bar
from vlmgrade.core.types import Judgment
from vlmgrade.judges import JudgeSpec, open_judge
from vlmgrade.judges.llm.openai import Reply
from vlmgrade.judges.llm.ratelimit import RateLimiter
from vlmgrade.judges.protocol import LLMJudge
from vlmgrade.pipeline.cache import LOCK_WAIT_S, Cache, CacheWriter
from vlmgrade.pipeline.ledger import Ledger, Refusals, server_message
from vlmgrade.pipeline.plan import Job, Plan, check_budget, failed, judgment_of
from vlmgrade.report.folder import write_batches

PENDING_BATCHES = "pending_batches"  # meta-table key of the Batch API jobs submitted and not yet collected
T = TypeVar("T")


async def judge_stage(p: Plan, spec: JudgeSpec, judging: JudgingOptions, budget: BudgetOptions, cache: Cache,
                      out: Path | None = None, progress: bool = True) -> tuple[list[Judgment], Ledger]:
    """The plan's judgments (offline ones first, then one per job in plan order) and what they cost."""
    ledger = Ledger(price=p.price)
    check_budget(p, spec, budget.max_cost)
    if not p.jobs:
        return list(p.offline), ledger
    judge = open_judge(spec, judging.concurrency)
    # --deadline bounds the whole judging stage: what is not answered by then is unscored ("deadline")
    deadline = time.monotonic() + judging.deadline if judging.deadline is not None else None
    batch_errors: dict[str, str] = {}
    if judging.batch and p.new_keys:
        batch_errors = await _through_batches(p, spec, judge, judging, cache, ledger, out, progress, deadline)
    dispatcher = Dispatcher(spec, judge, judging, budget, cache, ledger, deadline)
    with progress_bar(f"judge {spec.label}", len(p.jobs), progress, retries=True, on_loop=True) as bar:
        results = await dispatcher.run(p, batch_errors, bar)
    return list(p.offline) + results, ledger


class Dispatcher:
    """One judging stage's sending: the semaphore, rate limiter, refusals, cache writer and deadline its
    requests share."""

    def __init__(self, spec: JudgeSpec, judge: LLMJudge, judging: JudgingOptions, budget: BudgetOptions,
                 cache: Cache, ledger: Ledger, deadline: float | None) -> None:
        self.judge, self.judging, self.budget, self.cache, self.ledger = judge, judging, budget, cache, ledger
        self.deadline = deadline
        self.sem = asyncio.Semaphore(judging.concurrency)
        self.limiter = RateLimiter(judging.rpm, judging.tpm)
        self.refusals = Refusals(spec.endpoint)
        owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        # leases and answers off the event loop: a locked cache stalls only them
        self.writer = CacheWriter(cache, owner, lease_s=judging.timeout + 30)
        self.past_deadline = f"deadline: --deadline {judging.deadline or 0:g} s passed before an answer (not " \
                             "cached; a rerun asks again)"
        self.bar: Any = None

    def left(self) -> float:
        """Seconds one request may still take: its timeout, cut short by the deadline."""
        timeout = self.judging.timeout
        return timeout if self.deadline is None else min(timeout, self.deadline - time.monotonic())

    async def run(self, p: Plan, batch_errors: dict[str, str], bar: Any) -> list[Judgment]:
        self.bar = bar
        results: list[Judgment | None] = [None] * len(p.jobs)
        asking = self._settle_known(p, batch_errors, results)
        watch = asyncio.ensure_future(_show_lock_waits(self.writer, bar))
        drawing = asyncio.ensure_future(bar.keep_drawn())
        tasks: dict[str, asyncio.Future] = {}
        try:
            await self._ask_all(p, asking, tasks)
            for key, indices in asking.items():
                reply = tasks[key].result()
                for i in indices:
                    job = p.jobs[i]
                    results[i] = failed(job, reply) if isinstance(reply, str) else judgment_of(job, reply)
        except BaseException:
            for t in tasks.values():
                t.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            raise
        finally:
            await self._close(watch, drawing)
        return results  # type: ignore[return-value] - every index is set above

    def _settle_known(self, p: Plan, batch_errors: dict[str, str],
                      results: list[Judgment | None]) -> dict[str, list[int]]:
        """Jobs whose answer is at hand (cache, batch) are judged on the spot: a task each would cost more than
        parsing. Returns the distinct requests still to ask, each with the jobs (indices) waiting for it."""
        asking: dict[str, list[int]] = {}
        for i, job in enumerate(p.jobs):
            reply = p.cached.get(job.key)
            if job.key in batch_errors:
                results[i] = failed(job, batch_errors[job.key])
            elif reply is None:
                asking.setdefault(job.key, []).append(i)
            else:
                if job.key not in p.batched:
                    self.ledger.cache_hits += 1  # batch answers count as batch requests, not as cache hits
                results[i] = judgment_of(job, reply)
        for indices in asking.values():
            self.ledger.cache_hits += len(indices) - 1  # the same request as another job's: answered once
        self.bar.advance(len(p.jobs) - sum(map(len, asking.values())))
        return asking

    async def _ask_all(self, p: Plan, asking: dict[str, list[int]], tasks: dict[str, asyncio.Future]) -> None:
        """The first new request alone (the canary), then all the others at once."""
        canary = next(iter(asking), None)
        if canary is not None:
            first = p.jobs[asking[canary][0]]
            tasks[canary] = asyncio.ensure_future(self.answer(first, len(asking[canary])))
            await tasks[canary]
            self.refusals.check(first=True)
        for key, indices in asking.items():
            if key not in tasks:
                tasks[key] = asyncio.ensure_future(self.answer(p.jobs[indices[0]], len(indices)))
        with _frozen_heap():
            await asyncio.gather(*tasks.values())

    async def _close(self, *helpers: asyncio.Future) -> None:
        self.ledger.retries = self.judge.retries.count
        await self.judge.close()
        await asyncio.get_running_loop().run_in_executor(None, self.writer.close)  # the last answers, waits shown
        for helper in helpers:
            helper.cancel()
        self.ledger.unsaved = self.writer.unsaved
        if self.writer.unsaved:
            self.bar.print(f"vlmgrade: warning: {self.writer.unsaved} cache writes to {self.cache.path} failed "
                           f"({self.writer.reason}); the answers are in this run's judgments.jsonl, and a rerun "
                           "would ask for them again")

    async def answer(self, job: Job, jobs_asking: int) -> Reply | str:
        """One distinct request, asked once for every job that shares it."""
        reply = await self.fetch(job)
        self.bar.advance(jobs_asking, retries=self.judge.retries.count)
        self.refusals.check()
        return reply

    async def fetch(self, job: Job) -> Reply | str:
        """The answer to a job's request: from another run that answered it meanwhile, or asked here."""
        while True:
            async with self.sem:
                # claimed within the semaphore, so that a lease starts when its request goes out: another
                # run on the same cache may have answered, or be asking, this very request
                claimed, hit = await self.writer.claim(job.key)
                if hit is not None:
                    self.ledger.cache_hits += 1
                    return Reply.from_cache(hit)
                if claimed:
                    sent = False
                    try:
                        result = await self.send(job)
                        sent = not isinstance(result, str)
                        return result
                    finally:
                        if not sent:  # a failure, a timeout or a cancel: let another run (or a rerun) ask
                            self.writer.release(job.key)
            if self.left() <= 0:
                return self.past_deadline
            await asyncio.sleep(0.25)

    async def send(self, job: Job) -> Reply | str:
        """One claimed request (within the semaphore): the reply, or why there is none."""
        await self.limiter.acquire(sum(job.est_tokens))
        if self.left() <= 0:
            return self.past_deadline
        try:
            reply = await within(self.judge.complete(job.body), self.left())
        except UserError:
            raise
        except asyncio.TimeoutError:  # a hung or dripping server costs one timeout, and the run goes on
            self.ledger.failed_requests += 1
            if self.left() <= 0:  # only a deadline makes the time left run out
                return self.past_deadline
            return f"timeout: no answer within {self.judging.timeout:g} s (not cached; a rerun asks again)"
        except Exception as e:  # noqa: BLE001 - a failed request is unscored and not cached
            self.ledger.failed_requests += 1
            self.refusals.failed(e)  # the same client error again and again stops the run
            return f"request failed: {type(e).__name__}: {server_message(e)}"
        self.refusals.answered()
        if not reply.text.strip():  # not cached: a rerun asks again
            self.ledger.failed_requests += 1
            return "empty reply (not cached; a rerun asks again)"
        return self._keep(job, reply)

    def _keep(self, job: Job, reply: Reply) -> Reply:
        self.ledger.requests_sent += 1
        self.ledger.add(reply, job.est_tokens, job.body.get("max_tokens"))
        # committed within milliseconds by the cache thread, with the lease dropped
        self.writer.store(job.key, reply.to_cache())
        max_cost = self.budget.max_cost
        if max_cost is not None and self.ledger.cost_usd > max_cost:
            raise UserError(f"stopped: judge cost reached ${self.ledger.cost_usd:.4f}, over --max-cost "
                            f"${max_cost:g}; what was judged is cached, rerun with a higher limit to finish")
        return reply


if sys.version_info >= (3, 11):
    async def within(awaitable: Awaitable[T], seconds: float) -> T:
        """`asyncio.wait_for` without the task it wraps each awaitable in (one task less per request)."""
        async with asyncio.timeout(seconds):
            return await awaitable
else:
    within = asyncio.wait_for


@contextmanager
def _frozen_heap() -> Iterator[None]:
    """The plan (every request body) and the stage's tasks live until the stage ends, and the client
    allocates enough per request to set off full collections that walk all of them again: on 10,000
    requests that cost seconds. Frozen, the collector skips them; they are handed back afterwards.
    (Left alone when the program froze its heap itself.)"""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def _show_lock_waits(writer: CacheWriter, bar: Any, every: float = 10.0) -> None:
    """A line every `every` seconds while a cache write waits on a lock another process holds."""
    shown = 0.0
    while True:
        await asyncio.sleep(0.5)
        waited = writer.waited()
        if waited < 2:
            shown = 0.0
        elif waited - shown >= every or not shown:
            shown = waited
            bar.print(f"waiting {waited:.0f} s for the cache {writer.cache.path}: another process holds its lock "
                      f"(giving the write up after {LOCK_WAIT_S:g} s; the answers stay in the run folder)")


async def _through_batches(p: Plan, spec: JudgeSpec, judge: Any, judging: JudgingOptions, cache: Cache, ledger: Ledger,
                           out: Path | None, progress: bool, deadline: float | None) -> dict[str, str]:
    """Send the plan's new requests as Batch API jobs; answers go to the cache, the ledger and the plan."""
    from vlmgrade.judges.llm.batch import PendingBatches, run_batches

    first: dict[str, Job] = {}
    for j in p.jobs:
        first.setdefault(j.key, j)
    bodies = {key: first[key].body for key in p.new_keys}
    pending = PendingBatches(load=lambda: (cache.get("meta", PENDING_BATCHES) or {}).get("batches", []),
                             save=lambda batches: cache.put("meta", PENDING_BATCHES, {"batches": batches}))

    def store(answers: dict[str, Reply]) -> None:
        cache.put_many("judgments", [(k, r.to_cache()) for k, r in answers.items()])
        for key, reply in answers.items():
            ledger.add(reply, first[key].est_tokens, first[key].body.get("max_tokens"), batch=True)

    with progress_bar(f"batch {spec.label}", len(bodies), progress) as bar:
        submitted = (lambda batches: write_batches(out, batches)) if out is not None else (lambda batches: None)
        answers, errors = await run_batches(judge.client, spec.endpoint, bodies, pending, submitted, store,
                                            judging.batch_poll_s, bar, deadline)
    p.cached.update(answers)
    p.batched = set(answers)
    ledger.batch_requests = len(answers) + len(errors)
    ledger.batches = sorted({r.batch for r in answers.values() if r.batch})
    return errors
