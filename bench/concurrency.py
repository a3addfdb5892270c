"""Many processes at once: cache openings, torchrun starts, and concurrent runs sharing a cache and a judge.

    python bench/concurrency.py [--rounds 100] [--torchrun 20] [--runs 6]

1. `--rounds` rounds of 4 processes opening one new cache file at the same instant (a barrier), each
   writing a row: 4 x rounds openings (400 by default), the race that once failed with "database is
   locked" at the WAL switch.
2. `--torchrun` two-process `torchrun ... vlmgrade caption` starts, each with a new cache both ranks open
   together (the shipped nanovlm-tiny-scenes, 4 samples).
3. `--runs` identical `vlmgrade run --captions` processes started together against one loopback judge
   (0.2 s per answer) and one cache: each must finish with every judgment, and the judge must see each
   distinct request once.

Failures are counted, never retried. Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "OPENAI_API_KEY": "sk-bench"}


def _open_many(barrier, folder: str, rounds: int, worker: int, failures) -> None:
    from vlmgrade.pipeline.cache import Cache

    for r in range(rounds):
        barrier.wait()  # all four open the same new file at once
        try:
            cache = Cache(Path(folder) / f"round{r}.sqlite")
            cache.put("meta", f"worker{worker}", {"round": r})
            cache.close()
        except Exception as e:  # noqa: BLE001 - counted, with the first message kept
            failures.put(f"{type(e).__name__}: {e}")


def cache_openings(folder: Path, rounds: int) -> dict:
    barrier = multiprocessing.Barrier(4)
    failures = multiprocessing.Queue()
    started = time.perf_counter()
    procs = [multiprocessing.Process(target=_open_many, args=(barrier, str(folder), rounds, w, failures))
             for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    errors = []
    while not failures.empty():
        errors.append(failures.get())
    from vlmgrade.pipeline.cache import Cache

    rows = sum(len([k for k in ("worker0", "worker1", "worker2", "worker3")
                    if Cache(folder / f"round{r}.sqlite").get("meta", k) is not None]) for r in range(rounds))
    return {"openings": 4 * rounds, "failures": len(errors) + sum(p.exitcode != 0 for p in procs),
            "rows_written": rows, "seconds": round(time.perf_counter() - started, 1), "first_error": errors[:1]}


def torchrun_starts(folder: Path, n: int) -> dict:
    failed, seconds = [], []
    for i in range(n):
        out = folder / f"caps{i}.jsonl"
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                                 "2", "-m", "vlmgrade", "caption", "--model", "nanovlm-tiny-scenes", "--data",
                                 "scenes-short:test", "--limit", "4", "--max-new-tokens", "8", "--quiet",
                                 "--out", str(out)], capture_output=True, text=True,
                                env={**ENV, "VLMGRADE_CACHE": str(folder / f"c{i}.sqlite")}, timeout=600)
        seconds.append(time.perf_counter() - started)
        lines = out.read_text().splitlines() if out.exists() else []
        if result.returncode != 0 or len(lines) != 4:
            failed.append(result.stderr.strip().splitlines()[-1:] or [f"exit {result.returncode}"])
        print(f"torchrun start {i + 1}/{n}: exit {result.returncode}, {len(lines)} captions, "
              f"{seconds[-1]:.1f} s", flush=True)
    median = round(sorted(seconds)[len(seconds) // 2], 1) if seconds else None
    return {"starts": n, "failures": len(failed), "median_s": median, "first_error": failed[:1]}


def concurrent_runs(folder: Path, n: int, samples: int = 20) -> dict:
    from vlmgrade.data.datasets import load_samples
    from vlmgrade.rubrics import load_rubric
    from vlmgrade.testing.server import FakeOpenAI, Reply, scripted_scores

    paper = tuple(c.name for c in load_rubric("nanovlm-paper").criteria)
    caps = folder / "caps.jsonl"
    caps.write_text("".join(json.dumps({"id": s.id, "model": "m", "text": f"a red ball number {i}"}) + "\n"
                            for i, s in enumerate(load_samples("scenes-short:test", samples))))

    def judge(body, count):
        return Reply(json.dumps({**scripted_scores(body, paper), "feedback": "ok"}))

    started = time.perf_counter()
    with FakeOpenAI(judge, latency=0.2) as server:
        procs = [subprocess.Popen([sys.executable, "-m", "vlmgrade", "run", "--captions", str(caps), "--data",
                                   "scenes-short:test", "--limit", str(samples), "--rubric", "nanovlm-paper",
                                   "--judge", "openai:gpt-4o", "--judge-base-url", server.base_url,
                                   "--concurrency", "4", "--quiet", "--out", str(folder / f"run{i}")],
                                  env={**ENV, "VLMGRADE_CACHE": str(folder / "shared.sqlite")},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for i in range(n)]
        errors = [p.communicate(timeout=600)[1] for p in procs]
        bodies = [json.dumps(b, sort_keys=True) for b in server.requests]
    judged = [len((folder / f"run{i}" / "judgments.jsonl").read_text().splitlines())
              if (folder / f"run{i}" / "judgments.jsonl").exists() else 0 for i in range(n)]
    return {"runs": n, "failures": sum(p.returncode != 0 for p in procs) + sum(j != samples for j in judged),
            "requests_received": len(bodies), "distinct_requests": len(set(bodies)), "samples": samples,
            "seconds": round(time.perf_counter() - started, 1),
            "first_error": [e.strip().splitlines()[-1] for e, p in zip(errors, procs) if p.returncode][:1]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--torchrun", type=int, default=20)
    ap.add_argument("--runs", type=int, default=6)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(tmp) / name for name in ("open", "torchrun", "runs")]
        for f in folders:
            f.mkdir()
        figures = {"cache_openings": cache_openings(folders[0], args.rounds)}
        print("cache openings:", figures["cache_openings"], flush=True)
        figures["concurrent_runs"] = concurrent_runs(folders[2], args.runs)
        print("concurrent runs:", figures["concurrent_runs"], flush=True)
        figures["torchrun"] = torchrun_starts(folders[1], args.torchrun)
        print("torchrun:", figures["torchrun"], flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
