"""Load: many judgments at high concurrency, memory, the cached rerun, and the cache at a million rows.

    python bench/load.py [--n 10000] [--concurrency 256] [--latency 0.1] [--cache-rows 1000000] [--rounds 3]

The judging figures reuse bench/judging.py's workload and loops (a loopback server in its own process
answering after `--latency`): vlmgrade's judging stage against a bare AsyncOpenAI loop at the same
concurrency (`load_vs_bare`), and against the same loop with its requests spread over clients of 16 as
vlmgrade's judge spreads them (`load_vs_bare_lanes`: what vlmgrade adds beyond how it uses the client);
best of three rounds each, the order rotated every round. Then the peak resident memory of this
process (`peak_rss_mb`) and the same run again from the cache (`cached_rerun_s`); last, a cache of
`--cache-rows` judgment rows and the time to fetch 1,000 random keys from it at once
(`cache_1m_get_many_ms`, best of five).

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import tempfile
import time
from pathlib import Path

import judging  # bench/judging.py, beside this script

from vlmgrade.pipeline.cache import Cache, key_of


def cache_get_many_ms(rows: int, folder: Path) -> float:
    cache = Cache(folder / "big.sqlite")
    value = {"raw": json.dumps({"grammar": 6, "feedback": "Nice."}), "usage": {"prompt_tokens": 100}}
    keys = [key_of({"row": i}) for i in range(rows)]
    for start in range(0, rows, 50_000):
        cache.put_many("judgments", [(k, value) for k in keys[start:start + 50_000]])
    wanted = random.Random(0).sample(keys, 1000)
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        got = cache.get_many("judgments", wanted)
        best = min(best, time.perf_counter() - t0)
    assert len(got) == 1000
    cache.close()
    return best * 1000


def main() -> None:
    from vlmgrade.core.options import JudgingOptions
    from vlmgrade.judges import JudgeSpec
    from vlmgrade.judges.llm.openai import REQUESTS_PER_CLIENT

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument("--latency", type=float, default=0.1)
    ap.add_argument("--cache-rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the two; each side keeps its best time")
    args = ap.parse_args()

    ports = multiprocessing.Queue()
    server = multiprocessing.Process(target=judging._serve, args=(ports, args.latency), daemon=True)
    server.start()
    base_url = f"http://127.0.0.1:{ports.get(timeout=30)}/v1"
    os.environ.setdefault("OPENAI_API_KEY", "bench")
    try:
        samples, captions = judging.workload(args.n)
        spec = JudgeSpec("openai", "gpt-4o", base_url)
        settings = JudgingOptions(concurrency=args.concurrency)
        with tempfile.TemporaryDirectory() as tmp:
            rounds = []
            for attempt in range(args.rounds):
                cache_path = Path(tmp) / f"cache-{attempt}.sqlite"  # empty: every request is sent
                rounds.append(judging.one_round(attempt, samples, captions, base_url, spec, settings, cache_path))
            best = judging.best_of(rounds)
            bare, lanes, ours = best["bare"], best["bare_lanes"], best["vlmgrade"]
            cached = judging.run_vlmgrade(samples, captions, spec, settings, cache_path)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            get_many = cache_get_many_ms(args.cache_rows, Path(tmp))
    finally:
        server.terminate()
    print(f"{args.n} judgments at concurrency {args.concurrency}: vlmgrade {ours:.2f} s, bare loop {bare:.2f} s "
          f"({ours / bare:.3f}x), bare loop over clients of {REQUESTS_PER_CLIENT} {lanes:.2f} s ({ours / lanes:.3f}x); "
          f"from the cache {cached:.2f} s; peak RSS {peak:.0f} MB")
    print(f"1,000 keys from a {args.cache_rows:,}-row cache: {get_many:.1f} ms")
    print(json.dumps({"requests": args.n, "concurrency": args.concurrency, "load_vs_bare": round(ours / bare, 3),
                      "load_vs_bare_lanes": round(ours / lanes, 3), "vlmgrade_s": round(ours, 3),
                      "bare_s": round(bare, 3), "bare_lanes_s": round(lanes, 3), "peak_rss_mb": round(peak),
                      "cached_rerun_s": round(cached, 3), "cache_rows": args.cache_rows,
                      "cache_1m_get_many_ms": round(get_many, 2)}))


if __name__ == "__main__":
    main()
