"""The judging stage: every caption through every rubric, from the cache or the judge, within budget.

Requests are planned first (rendered messages and cache keys for all of them), so a dry run can
price them, `--max-cost` can refuse them, and identical requests go out once. Then up to
`--concurrency` requests fly at once, within `--rpm`/`--tpm`; each answer is committed to the cache
the moment it arrives, so a killed run resumes without paying twice.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from vlmgrade.cache import Cache, key_of
from vlmgrade.cost import Price, dollars, estimate_completion_tokens, estimate_prompt_tokens, load_prices
from vlmgrade.errors import UserError
from vlmgrade.judges import grounded
from vlmgrade.judges.logprobs import weighted_scores
from vlmgrade.judges.openai import JudgeSpec, OpenAIJudge, build_messages, request_params, response_format
from vlmgrade.judges.ratelimit import RateLimiter
from vlmgrade.progress import progress_bar
from vlmgrade.rubric import Rubric, parse_reply
from vlmgrade.types import Caption, Judgment, Sample


@dataclass
class Job:
    rubric: Rubric
    caption: Caption
    repeat: int
    messages: list[dict]
    key: str
    est_tokens: tuple[int, int]  # (prompt, completion) estimate


@dataclass
class Plan:
    jobs: list[Job]
    cached: dict[str, dict]
    new_keys: list[str]  # distinct requests not in the cache: what the run will pay for
    est_prompt_tokens: int = 0
    est_completion_tokens: int = 0
    est_usd: float | None = None
    price: Price | None = None  # of the judge model, when the price table knows it
    offline: list[dict] = field(default_factory=list)  # grounded judgments, computed on the spot

    def summary(self) -> dict:
        return {"judge_requests": len(self.jobs), "from_cache": len(self.jobs) - len(self.new_keys),
                "to_send": len(self.new_keys), "est_prompt_tokens": self.est_prompt_tokens,
                "est_completion_tokens": self.est_completion_tokens, "est_usd": self.est_usd}


def wants_logprobs(rubric: Rubric, cfg) -> bool:
    return bool(rubric.judge.get("logprobs") or getattr(cfg, "judge_logprobs", False))


def cache_params(spec: JudgeSpec, rubric: Rubric, temperature: float | None, logprobs: bool) -> dict:
    """Everything about a request besides its messages that changes the answer (part of the cache key)."""
    return {**request_params(spec, rubric, temperature), **({"top_logprobs": 20} if logprobs else {})}


def plan(samples: list[Sample], captions: list[Caption], rubrics: list[Rubric], spec: JudgeSpec, cfg,
         cache: Cache) -> Plan:
    by_id = {s.id: s for s in samples}
    jobs, offline = [], []
    for rubric in rubrics:
        for c in captions:
            if rubric.offline:
                offline.append(_row(grounded.judge(by_id[c.sample_id], c, rubric.name), usage={}))
                continue
            messages = build_messages(rubric, by_id[c.sample_id], c, force_image=cfg.judge_image)
            est = (estimate_prompt_tokens(messages), estimate_completion_tokens(len(rubric.criteria)))
            for r in range(cfg.repeats):
                key = key_of({"judge": spec.model, "endpoint": spec.endpoint, "messages": messages,
                              "params": cache_params(spec, rubric, cfg.judge_temperature,
                                                     wants_logprobs(rubric, cfg)),
                              "rubric": rubric.hash, "repeat": r})
                jobs.append(Job(rubric, c, r, messages, key, est))
    cached = cache.get_many("judgments", [j.key for j in jobs])
    new: dict[str, Job] = {}
    for j in jobs:
        if j.key not in cached:
            new.setdefault(j.key, j)
    p = Plan(jobs, cached, list(new), offline=offline)
    p.est_prompt_tokens = sum(j.est_tokens[0] for j in new.values())
    p.est_completion_tokens = sum(j.est_tokens[1] for j in new.values())
    if spec.model:
        p.price = load_prices(cfg.price_table).get(spec.model)
        p.est_usd = dollars(p.est_prompt_tokens, p.est_completion_tokens, p.price, batch=cfg.batch)
    return p


async def judge_stage(p: Plan, spec: JudgeSpec, cfg, cache: Cache) -> tuple[list[dict], dict]:
    price = p.price
    counters = {"requests_sent": 0, "cache_hits": 0, "retries": 0, "failed_requests": 0,
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, "cost_usd": 0.0,
                "estimate": p.summary()}
    if cfg.max_cost is not None and p.new_keys:
        if p.est_usd is None:
            raise UserError(f"--max-cost needs a price for {spec.model}; add it to a --price-table YAML")
        if p.est_usd > cfg.max_cost:
            raise UserError(f"estimated judge cost ${p.est_usd:.4f} for {len(p.new_keys)} requests exceeds "
                            f"--max-cost ${cfg.max_cost:g}; nothing was sent (see --dry-run)")
    if not p.jobs:
        return list(p.offline), counters
    judge = OpenAIJudge(spec)
    batch_errors: dict[str, str] = {}
    if cfg.batch and p.new_keys:
        batch_errors = await _through_batches(p, spec, judge, cfg, cache, counters, price)
    sem = asyncio.Semaphore(cfg.concurrency)
    limiter = RateLimiter(cfg.rpm, cfg.tpm)
    inflight: dict[str, asyncio.Future] = {}  # identical requests share one answer

    async def fetch(job: Job) -> dict:
        async with sem:
            await limiter.acquire(sum(job.est_tokens))
            try:
                text, usage, tokens = await judge.complete(job.rubric, job.messages, cfg.judge_temperature,
                                                           wants_logprobs(job.rubric, cfg))
            except UserError:
                raise
            except Exception as e:  # noqa: BLE001 - a failed request is unscored and not cached
                counters["failed_requests"] += 1
                return {"error": f"request failed: {type(e).__name__}: {e}"}
        counters["requests_sent"] += 1
        for k, v in usage.items():
            counters["usage"][k] += v or 0
        counters["cost_usd"] += dollars(usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0,
                                        price) or 0.0
        hit = {"raw": text, "usage": usage, **({"logprobs": tokens} if tokens else {})}
        cache.put("judgments", job.key, hit)  # committed now: a kill after this loses nothing
        if cfg.max_cost is not None and counters["cost_usd"] > cfg.max_cost:
            raise UserError(f"stopped: judge cost reached ${counters['cost_usd']:.4f}, over --max-cost "
                            f"${cfg.max_cost:g}; what was judged is cached, rerun with a higher limit to finish")
        return hit

    with progress_bar(f"judge {spec.label}", len(p.jobs), cfg.progress, retries=True) as bar:
        async def one(job: Job) -> dict:
            if job.key in batch_errors:
                bar.advance(1)
                return _failed(job, batch_errors[job.key])
            hit = p.cached.get(job.key)
            if hit is not None or job.key in inflight:
                counters["cache_hits"] += 1
            if hit is None:
                if job.key not in inflight:
                    inflight[job.key] = asyncio.ensure_future(fetch(job))
                hit = await asyncio.shield(inflight[job.key])
            bar.advance(1, retries=judge.retries.count)
            if "error" in hit:
                return _failed(job, hit["error"])
            scores, reason = parse_reply(job.rubric, hit["raw"])
            row = _row(Judgment(job.caption.sample_id, job.caption.model, job.rubric.name, scores, reason,
                                hit["raw"], job.repeat), usage=hit["usage"])
            if wants_logprobs(job.rubric, cfg) and reason is None:
                # the expectation replaces the plain score; the plain one stays beside it
                weighted, which = weighted_scores(job.rubric, hit["raw"], hit.get("logprobs") or [], scores)
                row.update(scores=weighted, plain_scores=scores, weighted=which)
            return row

        tasks = [asyncio.ensure_future(one(j)) for j in p.jobs]
        try:
            results = await asyncio.gather(*tasks)
        except BaseException:
            for t in [*tasks, *inflight.values()]:
                t.cancel()
            await asyncio.gather(*tasks, *inflight.values(), return_exceptions=True)
            raise
        finally:
            counters["retries"] = judge.retries.count
            await judge.close()
    counters["cost_usd"] = round(counters["cost_usd"], 6)
    return list(p.offline) + list(results), counters


async def _through_batches(p: Plan, spec: JudgeSpec, judge: OpenAIJudge, cfg, cache: Cache, counters: dict,
                           price) -> dict[str, str]:
    """Send the plan's new requests as Batch API jobs; answers go to the cache and into the plan."""
    from pathlib import Path

    from vlmgrade.judges.batch import run_batches

    first = {}
    for j in p.jobs:
        first.setdefault(j.key, j)
    bodies = {}
    for key in p.new_keys:
        j = first[key]
        body = {"messages": j.messages, **request_params(spec, j.rubric, cfg.judge_temperature),
                "response_format": response_format(j.rubric)}
        if wants_logprobs(j.rubric, cfg):
            body.update(logprobs=True, top_logprobs=20)
        bodies[key] = body
    with progress_bar(f"batch {spec.label}", len(bodies), cfg.progress) as bar:
        answers, errors = await run_batches(judge.client, spec.endpoint, bodies, cache,
                                            Path(cfg.out) if cfg.out else None, cfg.batch_poll_s, bar)
    p.cached.update(answers)
    counters["batch_requests"] = len(answers) + len(errors)
    counters["batches"] = sorted({a["batch"] for a in answers.values()})
    for hit in answers.values():
        for k, v in hit["usage"].items():
            counters["usage"][k] += v or 0
        counters["cost_usd"] += dollars(hit["usage"].get("prompt_tokens") or 0,
                                        hit["usage"].get("completion_tokens") or 0, price, batch=True) or 0.0
    return errors


def _row(j: Judgment, usage: dict) -> dict:
    return {"sample_id": j.sample_id, "model": j.model, "rubric": j.rubric, "repeat": j.repeat, "scores": j.scores,
            "unscored_reason": j.unscored_reason, "raw": j.raw, "usage": usage}


def _failed(job: Job, reason: str) -> dict:
    scores = {c.name: None for c in job.rubric.criteria}
    return _row(Judgment(job.caption.sample_id, job.caption.model, job.rubric.name, scores, reason,
                         repeat=job.repeat), usage={})
