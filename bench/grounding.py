"""Does a model read the picture? Grounded scores of its completions on true vs shuffled images.

Completes the given prefix of N test scenes with greedy decoding, scores the texts with the grounded
judge, then repeats with the images shuffled among the samples (the baseline: same texts to complete,
wrong pictures). A model that reads the picture hallucinates far more on shuffled images.

    python bench/grounding.py [--model nanovlm-mini-scenes] [--data scenes-short:test] [--n 200]

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time

from vlmgrade.data import load_samples
from vlmgrade.judges.grounded import score_text
from vlmgrade.types import GenerationParams
from vlmgrade.zoo import load_captioner


def grounded_summary(samples, captions) -> dict:
    by_id = {s.id: s for s in samples}
    mentions = absent = bad = 0
    coverage = []
    for c in captions:
        r = score_text(c.text, by_id[c.sample_id].objects)
        mentions += len(r.mentions)
        absent += r.absent
        bad += r.absent + r.wrong_color
        coverage.append(r.coverage)
    return {"hallucination": bad / max(1, mentions), "absent_share": absent / max(1, mentions),
            "coverage": sum(coverage) / len(coverage), "mentions": mentions,
            "distinct_share": len({c.text for c in captions}) / len(captions)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="nanovlm-mini-scenes")
    ap.add_argument("--data", default="scenes-short:test")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    args = ap.parse_args()

    samples = load_samples(args.data, args.n)
    captioner = load_captioner(args.model, "auto")
    params = GenerationParams(max_new_tokens=args.max_new_tokens)
    t0 = time.time()
    captions = captioner.caption(samples, params, batch_size=50)
    seconds = time.time() - t0
    images = [s.image for s in samples]
    random.Random(0).shuffle(images)
    shuffled = [dataclasses.replace(s, image=im) for s, im in zip(samples, images)]
    shuffled_captions = captioner.caption(shuffled, params, batch_size=50)

    true, base = grounded_summary(samples, captions), grounded_summary(samples, shuffled_captions)
    # the reference completions (the rest of each scene's own text) bound what coverage can reach
    refs = [dataclasses.replace(c, text=s.references[0][len(s.prefix):]) for s, c in zip(samples, captions)]
    ceiling = grounded_summary(samples, refs)["coverage"]
    for s, c in list(zip(samples, captions))[:5]:
        print(f"{s.id}  [{s.prefix}] {c.text}")
    print(f"{'':14}{'true images':>14}{'shuffled':>12}")
    for key in ("hallucination", "absent_share", "coverage", "distinct_share", "mentions"):
        print(f"{key:14}{true[key]:>14.3f}{base[key]:>12.3f}")
    print(f"reference coverage ceiling {ceiling:.3f}; {len(samples) / seconds:.1f} captions/s")
    figures = {"model": args.model, "data": args.data, "n": len(samples), **true,
               "shuffled_hallucination": base["hallucination"], "shuffled_absent_share": base["absent_share"],
               # a ratio over zero is undefined: then null, and the difference tells the story
               "shuffled_vs_true_hallucination": (base["hallucination"] / true["hallucination"]
                                                  if true["hallucination"] else None),
               "shuffled_minus_true_hallucination": base["hallucination"] - true["hallucination"],
               "coverage_ceiling": ceiling, "captions_per_s": len(samples) / seconds}
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in figures.items()}))


if __name__ == "__main__":
    main()
