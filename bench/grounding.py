"""A calibration ladder for the grounded judge: do better completions get better grades?

On N test scenes (default 200 of scenes-short:test), every rung completes the given prefixes and the
grounded judge grades them; each rung's `grounded` mean carries its 95% interval:
  - each shipped short-text model on the true images;
  - the best of them on shuffled images (right prefixes, wrong pictures);
  - a fixed text: the most common object sentence of the training texts, whatever the picture;
  - the training text of the pixel-nearest training picture (a lookup that "sees" only pixels);
  - the best model with Gaussian weight noise at 0.1, 0.2 and 0.3 of each tensor's spread.
Then the same best model on test-novel (held-out compositions), true and shuffled images.
A judge worth trusting ranks these in the order their quality was built in.

    python bench/grounding.py [--n 200] [--models a,b,c] [--train 3000]

Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import random
import re
from collections import Counter

import numpy as np
import torch

from vlmgrade.analysis.controls import words_after
from vlmgrade.analysis.scores import clipped
from vlmgrade.analysis.stats import mean_ci
from vlmgrade.core.types import Caption, GenerationParams
from vlmgrade.data.datasets import load_samples
from vlmgrade.data.scenes import layout as scenes
from vlmgrade.judges.offline.claims import read_claims
from vlmgrade.judges.offline.grounded import judge
from vlmgrade.zoo import cards, load_captioner

PARAMS = GenerationParams(max_new_tokens=48)


def grade(name: str, samples, texts: list[str]) -> dict:
    """A rung: the grounded judge's mean and interval over the samples, and two of its parts."""
    judged = [judge(s, Caption(s.id, name, t)) for s, t in zip(samples, texts)]
    row = {"rung": name}
    for criterion in ("grounded", "hallucination", "relations"):
        e = mean_ci([j.scores[criterion] for j in judged])
        low, high, _ = clipped(e.ci_low, e.ci_high, "t", 0.0, 1.0)  # a 0-1 share's t interval can dip below 0
        row.update({criterion: e.mean, f"{criterion}_ci": [low, high], f"{criterion}_n": e.n})
    return row


def shuffled(samples, seed: int = 0):
    images = [s.image for s in samples]
    random.Random(seed).shuffle(images)
    return [dataclasses.replace(s, image=im) for s, im in zip(samples, images)]


def most_common_object_sentence(train: list[scenes.Scene]) -> str:
    sentences = Counter(s for scene in train for s in re.split(r"(?<=[.!?])\s+", scene.short)
                        if any(c.kind == "object" and not c.negated for c in read_claims(s)))
    return sentences.most_common(1)[0][0]


def nearest_training_texts(samples, train: list[scenes.Scene]) -> list[str]:
    """Each sample's nearest training picture by pixels (32 x 32, L2), and that picture's text."""
    def small(image) -> np.ndarray:
        return np.asarray(image.convert("RGB").resize((32, 32)), dtype=np.float32).ravel()

    bank = np.stack([small(scenes.render(t)) for t in train])
    out = []
    for s in samples:
        nearest = int(((bank - small(s.image)) ** 2).sum(1).argmin())
        out.append(words_after(train[nearest].short, s.prefix))
    return out


def with_noise(captioner, scale: float, seed: int = 0):
    """The same captioner with each weight tensor perturbed by N(0, (scale x its std)^2)."""
    noisy = dataclasses.replace(captioner, model=copy.deepcopy(captioner.model))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in noisy.model.parameters():
            if p.numel() > 1:
                p.add_(torch.randn(p.shape, generator=gen) * scale * p.float().std())
    return noisy


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="scenes-short:test")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--models", help="comma-separated; default: every shipped model trained on scenes-short")
    ap.add_argument("--train", type=int, default=3000, help="training scenes for the fixed and nearest rungs")
    args = ap.parse_args()

    samples = load_samples(args.data, args.n)
    names = args.models.split(",") if args.models else [
        c.name for c in cards() if c.kind == "nanovlm" and not c.trainable_only
        and str(c.extra.get("training", {}).get("data", "")).startswith("scenes-short")]
    rows, captioners = [], {}
    for name in names:
        captioners[name] = load_captioner(name, "cpu")
        rows.append(grade(name, samples, [c.text for c in captioners[name].caption(samples, PARAMS)]))
    best = max(rows, key=lambda r: r["grounded"])["rung"]
    rows.append(grade(f"{best} on shuffled images", samples,
                      [c.text for c in captioners[best].caption(shuffled(samples), PARAMS)]))
    train = [scenes.make_scene("train", i) for i in range(args.train)]
    fixed = most_common_object_sentence(train)
    rows.append(grade(f"fixed text: {fixed}", samples, [fixed] * len(samples)))
    rows.append(grade("nearest training picture's text", samples, nearest_training_texts(samples, train)))
    for scale in (0.1, 0.2, 0.3):
        noisy = with_noise(captioners[best], scale)
        rows.append(grade(f"{best} + noise {scale}", samples, [c.text for c in noisy.caption(samples, PARAMS)]))
    novel = load_samples("scenes-short:test-novel", args.n)
    novel_rows = [grade(f"{best} on test-novel", novel, [c.text for c in captioners[best].caption(novel, PARAMS)]),
                  grade(f"{best} on test-novel, shuffled images", novel,
                        [c.text for c in captioners[best].caption(shuffled(novel), PARAMS)])]
    print(f"{'rung':58}{'grounded':>9}  {'95% CI':>16}{'halluc.':>9}{'relations':>10}")
    for r in rows + novel_rows:
        lo, hi = r["grounded_ci"]
        print(f"{r['rung'][:58]:58}{r['grounded']:9.3f}  [{lo:.3f}, {hi:.3f}]{r['hallucination'] or 0:9.3f}"
              f"{r['relations'] or 0:10.3f}")
    true = next(r for r in rows if r["rung"] == best)
    noise = [r for r in rows if "+ noise" in r["rung"]]
    figures = {"data": args.data, "n": len(samples), "best": best,
               "ladder": {r["rung"]: round(r["grounded"], 4) for r in rows + novel_rows},
               "noise_strictly_worse": all(a["grounded"] > b["grounded"] for a, b in zip([true] + noise, noise)),
               "noise_0.3_separated": noise[-1]["grounded_ci"][1] < true["grounded_ci"][0],
               "shuffled_separated": rows[len(names)]["grounded_ci"][1] < true["grounded_ci"][0],
               "novel_vs_shuffled": novel_rows[0]["grounded"] / max(novel_rows[1]["grounded"], 1e-9)}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
