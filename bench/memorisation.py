"""How fast is the memorisation check on 200,000 training texts, and is its index exact?

Training texts: N (default 200,000) short descriptions in the built-in register, each two sentences
drawn from the short texts of `--scenes` (default 20,000) train scenes (drawing 200,000 scenes whole
takes minutes; recombined sentences keep the vocabulary and n-gram statistics). Queries: the test
references of `--queries` scenes. Timed: building the index, and the best ROUGE-L plus 4-gram share
for every query. Baseline, measured in the same run: the loop over all pairs (rouge-score against
every training text) on `--exact` queries, which also checks that the index finds the same best.

    python bench/memorisation.py [--n 200000] [--scenes 20000] [--queries 500] [--exact 3]

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time

from rouge_score import rouge_scorer

from vlmgrade.data.datasets import reference_texts
from vlmgrade.data.scenes import layout as scenes
from vlmgrade.judges.offline.memorisation import TrainingIndex
from vlmgrade.judges.offline.references import words


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--scenes", type=int, default=20_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--exact", type=int, default=3)
    args = ap.parse_args()

    sentences = [s for i in range(args.scenes) for s in re.split(r"(?<=\.) ", scenes.make_scene("train", i).short)]
    rng = random.Random(0)
    texts = [f"{rng.choice(sentences)} {rng.choice(sentences)}" for _ in range(args.n)]
    queries = reference_texts("scenes-short:test", args.queries)

    t0 = time.perf_counter()
    index = TrainingIndex.build(texts)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = [(index.best_rouge_l(q), index.share_4grams(q)) for q in queries]
    query_s = time.perf_counter() - t0

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    t0 = time.perf_counter()
    exact = [max(scorer.score(t, words(q))["rougeL"].fmeasure for t in index.texts) for q in queries[: args.exact]]
    loop_s_per_query = (time.perf_counter() - t0) / max(1, args.exact)
    same = sum(abs(e - f[0]) < 1e-12 for e, f in zip(exact, found))
    index_s_per_query = query_s / len(queries)
    print(f"{args.n} training texts: index built in {build_s:.1f} s; {len(queries)} queries in {query_s:.2f} s "
          f"({index_s_per_query * 1000:.1f} ms each)")
    speedup = loop_s_per_query / index_s_per_query
    print(f"loop over all pairs: {loop_s_per_query:.1f} s per query; the index is {speedup:.0f}x faster and "
          f"found the same best ROUGE-L on {same} of {len(exact)} queries")
    mean_rouge = sum(f[0] for f in found) / len(found)
    print(json.dumps({"train_texts": args.n, "queries": len(queries), "build_s": round(build_s, 2),
                      "query_ms": round(index_s_per_query * 1000, 2), "loop_s_per_query": round(loop_s_per_query, 2),
                      "speedup": round(speedup, 1), "exact_matches": same,
                      "exact_checked": len(exact), "mean_best_rouge_l": round(mean_rouge, 4)}))


if __name__ == "__main__":
    main()
