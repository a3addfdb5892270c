"""Judging throughput: vlmgrade's judging stage against a bare AsyncOpenAI loop, and a cached rerun.

The same N judge requests (default 2,000) go to an OpenAI-compatible server on 127.0.0.1, in its own
process, that answers each after 100 ms, at concurrency 64:
  (a) through vlmgrade's judging stage (templates, cache, parsing, progress bar included);
  (b) through a bare `AsyncOpenAI` loop with a semaphore: the baseline;
  (b') the same bare loop with its requests spread over clients of 16, as vlmgrade's judge spreads them
       (one connection pool scanning 256 connections per request costs more than the request): so the
       figures show both what a user gains against a plain loop and what vlmgrade itself adds;
  (c) the same vlmgrade run again, every answer from the cache.
(a), (b) and (b') run in rounds, their order rotated each round, and each keeps its best time, so
order and warm-up cancel out; the server keeps no bodies, so its speed does not drift.

    python bench/judging.py [--n 2000] [--concurrency 64] [--latency 0.1]

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

from vlmgrade.testing.server import FakeOpenAI, Reply

SCORES = json.dumps({"grammar": 6, "creativity": 5, "consistency": 7, "meaningfulness": 6, "plot": 5,
                     "feedback": "Nice."})


def _answer(body: dict, count: int) -> Reply:
    return Reply(SCORES)


def _serve(port_queue, latency: float) -> None:
    with FakeOpenAI(_answer, latency=latency, record=False) as server:
        port_queue.put(server.httpd.server_address[1])
        while True:
            time.sleep(3600)


def workload(n: int):
    from vlmgrade.core.types import Caption
    from vlmgrade.data.datasets import load_samples

    samples = load_samples("scenes-short:test", min(n, 1000))
    captions = []
    for i in range(n):  # distinct completions, so every request is distinct
        s = samples[i % len(samples)]
        captions.append(Caption(s.id, f"model-{i // len(samples)}", f"see a red ball number {i}."))
    return samples, captions


def run_vlmgrade(samples, captions, spec, judging, cache_path: Path) -> float:
    from vlmgrade.core.options import BudgetOptions
    from vlmgrade.pipeline.cache import Cache
    from vlmgrade.pipeline.dispatch import judge_stage
    from vlmgrade.pipeline.plan import plan
    from vlmgrade.rubrics import load_rubric

    rubric = load_rubric("nanovlm-paper")
    cache = Cache(cache_path)
    t0 = time.perf_counter()
    p = plan(samples, captions, [rubric], spec, judging, BudgetOptions(), cache)
    results, _ = asyncio.run(judge_stage(p, spec, judging, BudgetOptions(), cache))
    seconds = time.perf_counter() - t0
    cache.close()
    assert len(results) == len(captions) and all(r.unscored_reason is None for r in results)
    return seconds


def run_bare(samples, captions, base_url: str, concurrency: int, per_client: int | None = None) -> float:
    """A bare AsyncOpenAI loop with a semaphore; with `per_client`, requests spread over clients of at most
    that many each, as vlmgrade's judge does (the same loop otherwise: what vlmgrade adds beyond its
    client use)."""
    from openai import AsyncOpenAI

    from vlmgrade.judges.llm.openai import build_messages, response_format
    from vlmgrade.rubrics import load_rubric

    rubric = load_rubric("nanovlm-paper")
    by_id = {s.id: s for s in samples}
    schema = response_format(rubric)
    requests = [build_messages(rubric, by_id[c.sample_id], c) for c in captions]  # prepared before the clock
    lanes = -(-concurrency // per_client) if per_client else 1

    async def go() -> None:
        clients = [AsyncOpenAI(api_key="bench", base_url=base_url, max_retries=6, timeout=120) for _ in range(lanes)]
        in_flight = [0] * lanes
        sem = asyncio.Semaphore(concurrency)

        async def one(messages):
            async with sem:
                lane = min(range(lanes), key=in_flight.__getitem__)
                in_flight[lane] += 1
                try:
                    r = await clients[lane].chat.completions.create(model="gpt-4o", messages=messages,
                                                                    temperature=0.0, response_format=schema)
                finally:
                    in_flight[lane] -= 1
                return json.loads(r.choices[0].message.content)

        await asyncio.gather(*(one(m) for m in requests))
        for client in clients:
            await client.close()

    t0 = time.perf_counter()
    asyncio.run(go())
    return time.perf_counter() - t0


def one_round(attempt: int, samples, captions, base_url: str, spec, settings, cache_path: Path) -> dict[str, float]:
    """Seconds of the bare loop ("bare"), the bare loop spread over clients like vlmgrade's ("bare_lanes")
    and vlmgrade ("vlmgrade"); the order rotates every round, so a machine that drifts (they share it
    with the server) favours none."""
    from vlmgrade.judges.llm.openai import REQUESTS_PER_CLIENT

    sides = {"bare": lambda: run_bare(samples, captions, base_url, settings.concurrency),
             "bare_lanes": lambda: run_bare(samples, captions, base_url, settings.concurrency, REQUESTS_PER_CLIENT),
             "vlmgrade": lambda: run_vlmgrade(samples, captions, spec, settings, cache_path)}
    names = list(sides)
    shift = attempt % len(names)
    return {name: sides[name]() for name in names[shift:] + names[:shift]}


def best_of(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {name: min(r[name] for r in rounds) for name in rounds[0]}


def main() -> None:
    from vlmgrade.core.options import JudgingOptions
    from vlmgrade.judges import JudgeSpec
    from vlmgrade.judges.llm.openai import REQUESTS_PER_CLIENT

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds; each side keeps its best time")
    args = ap.parse_args()

    ports = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ports, args.latency), daemon=True)
    server.start()
    base_url = f"http://127.0.0.1:{ports.get(timeout=30)}/v1"
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    try:
        samples, captions = workload(args.n)
        spec = JudgeSpec("openai", "gpt-4o", base_url)
        settings = JudgingOptions(concurrency=args.concurrency)
        with tempfile.TemporaryDirectory() as tmp:
            rounds = []
            for attempt in range(args.rounds):
                cache_path = Path(tmp) / f"cache-{attempt}.sqlite"  # empty: every request is sent
                rounds.append(one_round(attempt, samples, captions, base_url, spec, settings, cache_path))
            best = best_of(rounds)
            bare, lanes, ours = best["bare"], best["bare_lanes"], best["vlmgrade"]
            cached = run_vlmgrade(samples, captions, spec, settings, cache_path)
    finally:
        server.terminate()
    floor = args.n / args.concurrency * args.latency
    print(f"latency floor ({args.n} requests x {args.latency * 1000:.0f} ms / {args.concurrency}): {floor:.2f} s")
    print(f"(b) bare AsyncOpenAI loop:       {bare:6.2f} s  ({bare / floor:.2f}x the floor)")
    print(f"(b') the same over clients of {REQUESTS_PER_CLIENT}: {lanes:6.2f} s  ({lanes / floor:.2f}x the floor)")
    print(f"(a) vlmgrade judging stage:      {ours:6.2f} s  ({ours / bare:.3f}x the bare loop, "
          f"{ours / lanes:.3f}x (b'))")
    print(f"(c) vlmgrade again, from cache:  {cached:6.2f} s")
    print(json.dumps({"requests": args.n, "concurrency": args.concurrency, "latency_s": args.latency,
                      "floor_s": round(floor, 3), "bare_s": round(bare, 3), "bare_lanes_s": round(lanes, 3),
                      "vlmgrade_s": round(ours, 3), "judge_vs_bare": round(ours / bare, 3),
                      "judge_vs_bare_lanes": round(ours / lanes, 3), "cached_rerun_s": round(cached, 3)}))


if __name__ == "__main__":
    main()
