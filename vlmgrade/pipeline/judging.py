"""The judging stage: every caption through every rubric, from the cache or the judge, within budget.

Requests are planned first (one body per job from `request_body`, and its cache key), so a dry run
can price them, `--max-cost` can refuse them, and identical requests go out once. Then up to
`--concurrency` requests fly at once, within `--rpm`/`--tpm` (or go as Batch API jobs); each answer is
committed to the cache the moment it arrives, so a killed run resumes without paying twice. Usage and
cost of direct and batch answers go through one `Ledger`.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from vlmgrade.core.errors import UserError
from vlmgrade.core.options import BudgetOptions, JudgingOptions
from vlmgrade.core.types import Caption, Judgment, Sample
from vlmgrade.judges import JudgeSpec, open_judge
from vlmgrade.judges.llm.logprobs import weighted_scores
from vlmgrade.judges.llm.openai import Reply, build_messages, request_body
from vlmgrade.judges.llm.ratelimit import RateLimiter
from vlmgrade.judges.offline import grounded
from vlmgrade.pipeline.cache import LOCK_WAIT_S, Cache, CacheWriter, key_of
from vlmgrade.pipeline.cost import Price, dollars, estimate_completion_tokens, estimate_prompt_tokens, load_prices
from vlmgrade.pipeline.progress import progress_bar
from vlmgrade.rubrics.rubric import Rubric, parse_reply

PENDING_BATCHES = "pending_batches"  # meta-table key of the Batch API jobs submitted and not yet collected


@dataclass(frozen=True)
class Job:
    rubric: Rubric
    caption: Caption
    repeat: int
    body: dict  # the request exactly as sent (direct or batch)
    key: str
    est_tokens: tuple[int, int]  # (prompt, completion) estimate
    pair: tuple[str, str] | None = None  # pairwise rubrics: the models shown as A and B (caption.model says "A vs B")

    @property
    def weighted(self) -> bool:
        return "logprobs" in self.body


@dataclass
class Plan:
    jobs: list[Job]
    cached: dict[str, Reply]
    new_keys: list[str]  # distinct requests not in the cache: what the run will pay for
    est_prompt_tokens: int = 0
    est_completion_tokens: int = 0
    est_usd: float | None = None
    price: Price | None = None  # of the judge model, when the price table knows it
    offline: list[Judgment] = field(default_factory=list)  # offline rubrics' judgments, computed on the spot
    batched: set[str] = field(default_factory=set)  # keys answered through the Batch API in this run

    def summary(self) -> dict:
        return {"judge_requests": len(self.jobs), "from_cache": len(self.jobs) - len(self.new_keys),
                "to_send": len(self.new_keys), "est_prompt_tokens": self.est_prompt_tokens,
                "est_completion_tokens": self.est_completion_tokens, "est_usd": self.est_usd}


@dataclass
class Ledger:
    """What judging did and cost; run.json records it."""

    price: Price | None = None
    requests_sent: int = 0
    cache_hits: int = 0
    retries: int = 0
    failed_requests: int = 0
    batch_requests: int = 0
    batches: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=lambda: {"prompt_tokens": 0, "completion_tokens": 0,
                                                           "total_tokens": 0})
    cost_usd: float = 0.0
    unsaved: int = 0  # answers that could not be written to the cache (kept in the run folder)

    def add(self, reply: Reply, batch: bool = False) -> None:
        for k in self.usage:
            self.usage[k] += reply.usage.get(k) or 0
        self.cost_usd += dollars(reply.usage.get("prompt_tokens") or 0, reply.usage.get("completion_tokens") or 0,
                                 self.price, batch=batch) or 0.0

    def to_dict(self) -> dict:
        out = {"requests_sent": self.requests_sent, "cache_hits": self.cache_hits, "retries": self.retries,
               "failed_requests": self.failed_requests, "usage": dict(self.usage),
               "cost_usd": round(self.cost_usd, 6)}
        if self.batch_requests:
            out.update(batch_requests=self.batch_requests, batches=self.batches)
        if self.unsaved:
            out["unsaved_in_cache"] = self.unsaved
        return out


def plan(samples: list[Sample], captions: list[Caption], rubrics: list[Rubric], spec: JudgeSpec,
         judging: JudgingOptions, budget: BudgetOptions, cache: Cache, controls: frozenset[str] = frozenset()) -> Plan:
    """Every job of the run; `controls` names the captions that are judge controls (no pairwise contestants)."""
    by_id = {s.id: s for s in samples}
    jobs, offline = [], []
    for rubric in rubrics:
        if rubric.offline:
            offline += offline_judgments(rubric, by_id, captions, judging.train_data)
            continue
        shown_together = ordered_pairs(captions, rubric.name, controls) if rubric.pairwise else \
            [(c, None) for c in captions]
        for c, second in shown_together:
            messages = build_messages(rubric, by_id[c.sample_id], c, force_image=judging.image, second=second)
            body = request_body(spec, rubric, messages, judging.temperature, logprobs=weighted(rubric, judging))
            est = (estimate_prompt_tokens(messages), estimate_completion_tokens(len(rubric.criteria)))
            pair = (c.model, second.model) if second else None
            shown = Caption(c.sample_id, f"{c.model} vs {second.model}", "") if second else c
            for r in range(judging.repeats):
                key = key_of({"endpoint": spec.endpoint, "body": body, "rubric": rubric.hash, "repeat": r})
                jobs.append(Job(rubric, shown, r, body, key, est, pair))
    cached = {k: Reply.from_cache(v) for k, v in cache.get_many("judgments", [j.key for j in jobs]).items()}
    new: dict[str, Job] = {}
    for j in jobs:
        if j.key not in cached:
            new.setdefault(j.key, j)
    p = Plan(jobs, cached, list(new), offline=offline)
    p.est_prompt_tokens = sum(j.est_tokens[0] for j in new.values())
    p.est_completion_tokens = sum(j.est_tokens[1] for j in new.values())
    if spec.model:
        p.price = load_prices(budget.price_table).get(spec.model)
        p.est_usd = dollars(p.est_prompt_tokens, p.est_completion_tokens, p.price, batch=judging.batch)
    return p


def weighted(rubric: Rubric, judging: JudgingOptions) -> bool:
    """Whether a rubric's LLM scores are probability-weighted: asked for by the rubric or --judge-logprobs,
    for absolute rubrics sent to a judge (verdicts and offline scores have no score tokens to weigh)."""
    return not rubric.offline and not rubric.pairwise and bool(rubric.judge.get("logprobs") or judging.logprobs)


def offline_judgments(rubric: Rubric, samples: dict[str, Sample], captions: list[Caption],
                      train_data: str | None = None) -> list[Judgment]:
    kind = rubric.judge.get("model")
    if kind == "references":
        from vlmgrade.judges.offline import references

        return references.judge_all(samples, captions, rubric.name)
    if kind == "memorisation":
        from vlmgrade.judges.offline import memorisation

        return memorisation.judge_all(samples, captions, rubric.name, train_data)
    return [grounded.judge(samples[c.sample_id], c, rubric.name) for c in captions]


def ordered_pairs(captions: list[Caption], rubric: str, controls: frozenset[str]) -> list[tuple[Caption, Caption]]:
    """Every pair of models on every sample, in both orders (A, B) and (B, A), so that position bias can be
    measured and removed. Judge controls are no contestants."""
    by_sample: dict[str, list[Caption]] = {}
    for c in captions:
        if c.model not in controls:
            by_sample.setdefault(c.sample_id, []).append(c)
    if max((len(v) for v in by_sample.values()), default=0) < 2:
        raise UserError(f"rubric {rubric} is pairwise: it needs captions of at least two models on a sample")
    pairs = []
    for group in by_sample.values():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                pairs += [(a, b), (b, a)]
    return pairs


def _check_budget(p: Plan, spec: JudgeSpec, max_cost: float | None) -> None:
    if max_cost is None or not p.new_keys:
        return
    if p.est_usd is None:
        raise UserError(f"--max-cost needs a price for {spec.model}; add it to a --price-table YAML")
    if p.est_usd > max_cost:
        raise UserError(f"estimated judge cost ${p.est_usd:.4f} for {len(p.new_keys)} requests exceeds "
                        f"--max-cost ${max_cost:g}; nothing was sent (see --dry-run)")


async def judge_stage(p: Plan, spec: JudgeSpec, judging: JudgingOptions, budget: BudgetOptions, cache: Cache,
                      out: Path | None = None, progress: bool = True) -> tuple[list[Judgment], Ledger]:
    ledger = Ledger(price=p.price)
    _check_budget(p, spec, budget.max_cost)
    if not p.jobs:
        return list(p.offline), ledger
    judge = open_judge(spec, judging.concurrency)
    # --deadline bounds the whole judging stage: what is not answered by then is unscored ("deadline")
    deadline = time.monotonic() + judging.deadline if judging.deadline is not None else None
    batch_errors: dict[str, str] = {}
    if judging.batch and p.new_keys:
        batch_errors = await _through_batches(p, spec, judge, judging, cache, ledger, out, progress, deadline)
    sem = asyncio.Semaphore(judging.concurrency)
    limiter = RateLimiter(judging.rpm, judging.tpm)

    refusals = Refusals(spec.endpoint)
    owner = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    # leases and answers off the event loop: a locked cache stalls only them
    writer = CacheWriter(cache, owner, lease_s=judging.timeout + 30)

    def left() -> float:
        """Seconds one request may still take: its timeout, cut short by the deadline."""
        return judging.timeout if deadline is None else min(judging.timeout, deadline - time.monotonic())

    past_deadline = f"deadline: --deadline {judging.deadline or 0:g} s passed before an answer (not cached; a rerun " \
                    "asks again)"

    async def fetch(job: Job) -> Reply | str:
        while True:
            async with sem:
                # claimed within the semaphore, so that a lease starts when its request goes out: another
                # run on the same cache may have answered, or be asking, this very request
                claimed, hit = await writer.claim(job.key)
                if hit is not None:
                    ledger.cache_hits += 1
                    return Reply.from_cache(hit)
                if claimed:
                    sent = False
                    try:
                        result = await _send(job)
                        sent = not isinstance(result, str)
                        return result
                    finally:
                        if not sent:  # a failure, a timeout or a cancel: let another run (or a rerun) ask
                            writer.release(job.key)
            if left() <= 0:
                return past_deadline
            await asyncio.sleep(0.25)

    async def _send(job: Job) -> Reply | str:
        """One claimed request (within the semaphore)."""
        await limiter.acquire(sum(job.est_tokens))
        if left() <= 0:
            return past_deadline
        try:
            reply = await within(judge.complete(job.body), left())
        except UserError:
            raise
        except asyncio.TimeoutError:  # a hung or dripping server costs one timeout, and the run goes on
            ledger.failed_requests += 1
            if left() <= 0:  # only a deadline makes the time left run out
                return past_deadline
            return f"timeout: no answer within {judging.timeout:g} s (not cached; a rerun asks again)"
        except Exception as e:  # noqa: BLE001 - a failed request is unscored and not cached
            ledger.failed_requests += 1
            refusals.failed(e)  # the same client error again and again stops the run
            return f"request failed: {type(e).__name__}: {server_message(e)}"
        refusals.answered()
        if not reply.text.strip():  # not cached: a rerun asks again
            ledger.failed_requests += 1
            return "empty reply (not cached; a rerun asks again)"
        ledger.requests_sent += 1
        ledger.add(reply)
        # committed within milliseconds by the cache thread, with the lease dropped
        writer.store(job.key, reply.to_cache())
        if budget.max_cost is not None and ledger.cost_usd > budget.max_cost:
            raise UserError(f"stopped: judge cost reached ${ledger.cost_usd:.4f}, over --max-cost "
                            f"${budget.max_cost:g}; what was judged is cached, rerun with a higher limit to finish")
        return reply

    with progress_bar(f"judge {spec.label}", len(p.jobs), progress, retries=True, on_loop=True) as bar:
        async def answer(job: Job, jobs_asking: int) -> Reply | str:
            """One distinct request, asked once for every job that shares it."""
            reply = await fetch(job)
            bar.advance(jobs_asking, retries=judge.retries.count)
            refusals.check()
            return reply

        results: list[Judgment | None] = [None] * len(p.jobs)
        asking: dict[str, list[int]] = {}  # key -> the jobs (indices) that wait for its answer
        for i, job in enumerate(p.jobs):
            reply = p.cached.get(job.key)
            if job.key in batch_errors:
                results[i] = _failed(job, batch_errors[job.key])
            elif reply is None:
                asking.setdefault(job.key, []).append(i)
            else:  # answers already at hand are judged on the spot: a task each would cost more than parsing
                if job.key not in p.batched:
                    ledger.cache_hits += 1  # batch answers count as batch requests, not as cache hits
                results[i] = judgment_of(job, reply)
        for indices in asking.values():
            ledger.cache_hits += len(indices) - 1  # the same request as another job's: answered once
        bar.advance(len(p.jobs) - sum(map(len, asking.values())))

        # the first new request goes alone: a server that refuses it (a wrong model name, a bad key
        # scope) stops the run after one request instead of one per caption
        canary = next(iter(asking), None)
        watch = asyncio.ensure_future(_show_lock_waits(writer, bar))
        drawing = asyncio.ensure_future(bar.keep_drawn())
        tasks: dict[str, asyncio.Future] = {}
        try:
            if canary is not None:
                first = p.jobs[asking[canary][0]]
                tasks[canary] = asyncio.ensure_future(answer(first, len(asking[canary])))
                await tasks[canary]
                refusals.check(first=True)
            for key, indices in asking.items():
                if key not in tasks:
                    tasks[key] = asyncio.ensure_future(answer(p.jobs[indices[0]], len(indices)))
            with _frozen_heap():
                await asyncio.gather(*tasks.values())
            for key, indices in asking.items():
                reply = tasks[key].result()
                for i in indices:
                    job = p.jobs[i]
                    results[i] = _failed(job, reply) if isinstance(reply, str) else judgment_of(job, reply)
        except BaseException:
            for t in tasks.values():
                t.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            raise
        finally:
            ledger.retries = judge.retries.count
            await judge.close()
            await asyncio.get_running_loop().run_in_executor(None, writer.close)  # the last answers, waits shown
            watch.cancel()
            drawing.cancel()
            ledger.unsaved = writer.unsaved
            if writer.unsaved:
                bar.print(f"vlmgrade: warning: {writer.unsaved} cache writes to {cache.path} failed ({writer.reason}); "
                          "the answers are in this run's judgments.jsonl, and a rerun would ask for them again")
    return list(p.offline) + list(results), ledger


if sys.version_info >= (3, 11):
    async def within(awaitable, seconds: float):
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


async def _show_lock_waits(writer: CacheWriter, bar, every: float = 10.0) -> None:
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


def server_message(error: Exception) -> str:
    """The server's own words from an API error (its JSON `error.message`), else the exception's text."""
    from vlmgrade.judges.llm.openai import redact

    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body["error"] if isinstance(body.get("error"), dict) else body
        if inner.get("message"):
            return redact(str(inner["message"]))[:500]
    return redact(str(error).splitlines()[0])[:500] if str(error) else type(error).__name__


class Refusals:
    """Client errors (4xx other than 429) that no retry fixes: one on the first request, or IN_A_ROW
    of the same status with nothing answered between, stop the run with the server's message."""

    IN_A_ROW = 5

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.in_a_row = 0
        self.status: int | None = None
        self.message = ""
        self.stop_reason: str | None = None

    def failed(self, error: Exception) -> None:
        status = getattr(error, "status_code", None)
        if not isinstance(status, int) or not 400 <= status < 500 or status == 429:
            self.in_a_row, self.status = 0, None
            return
        self.in_a_row = self.in_a_row + 1 if status == self.status else 1
        self.status, self.message = status, server_message(error)
        self.stop_reason = f"HTTP {status}: {self.message}"

    def answered(self) -> None:
        self.in_a_row, self.status, self.stop_reason = 0, None, None

    def check(self, first: bool = False) -> None:
        if self.stop_reason and (first or self.in_a_row >= self.IN_A_ROW):
            count = "its first request" if first else f"{self.in_a_row} requests in a row"
            raise UserError(f"the judge at {self.endpoint} refused {count} with {self.stop_reason}; stopped "
                            "(captions and any answers are cached)")


def judgment_of(job: Job, reply: Reply) -> Judgment:
    """Parse a reply into scores; with logprobs the expectation replaces the plain score, kept beside it."""
    c = job.caption
    scores, reason = parse_reply(job.rubric, reply.text)
    if job.weighted and reason is None:
        weighted, which = weighted_scores(job.rubric, reply.text, reply.logprobs or [], scores)
        return Judgment(c.sample_id, c.model, job.rubric.name, weighted, None, reply.text, job.repeat, reply.usage,
                        plain_scores=scores, weighted=tuple(which), pair=job.pair)
    return Judgment(c.sample_id, c.model, job.rubric.name, scores, reason, reply.text, job.repeat, reply.usage,
                    pair=job.pair)


def _failed(job: Job, reason: str) -> Judgment:
    scores = {c.name: None for c in job.rubric.criteria}
    return Judgment(job.caption.sample_id, job.caption.model, job.rubric.name, scores, reason, repeat=job.repeat,
                    pair=job.pair)


async def _through_batches(p: Plan, spec: JudgeSpec, judge, judging: JudgingOptions, cache: Cache, ledger: Ledger,
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
        for reply in answers.values():
            ledger.add(reply, batch=True)

    with progress_bar(f"batch {spec.label}", len(bodies), progress) as bar:
        answers, errors = await run_batches(judge.client, spec.endpoint, bodies, pending, out, store,
                                            judging.batch_poll_s, bar, deadline)
    p.cached.update(answers)
    p.batched = set(answers)
    ledger.batch_requests = len(answers) + len(errors)
    ledger.batches = sorted({r.batch for r in answers.values() if r.batch})
    return errors
