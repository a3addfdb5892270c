"""The shipped ladder, measured: does the grounded judge resolve each model from its neighbour, from a
picture-blind constant text, and from its own captions of rotated pictures (does it use the picture)?

    python bench/ladder.py [--n 400] [--splits test,test-novel] [--style short]
                           [--models LABEL=FOLDER,...] [--out reports/ladder] [--max-new-tokens N]

One `vlmgrade run --controls --judge grounded` per split (cached: a second call captions nothing), then,
per split: each model's `grounded` with its 95% interval, the reference continuation and an oracle
listing (every object, true) as headroom, and the paired differences (Wilcoxon p) to the next model up,
to the constant text and to the rotated-picture run. Last line: one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import vlmgrade
from vlmgrade.analysis.controls import ROTATED
from vlmgrade.analysis.stats import mean_ci, paired_difference
from vlmgrade.data.datasets import load_samples
from vlmgrade.judges.offline.grounded import check

LADDERS = {"short": ["nanovlm-cnn-scenes-step1900", "nanovlm-cnn-scenes-step2800", "nanovlm-cnn-scenes-step4200",
                     "nanovlm-cnn-lr2e3-scenes"],
           "long": ["nanovlm-mini-scenes-long"]}


def oracle_listing(sample) -> str:  # noqa: ANN001 - a Sample
    groups: dict[tuple[str, str], int] = {}
    for o in sample.objects:
        groups[(o.name, o.color)] = groups.get((o.name, o.color), 0) + 1
    words = {1: "a", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}
    parts = [(f"an {c} {k}" if c[0] in "aeiou" else f"a {c} {k}") if n == 1 else f"{words[n]} {c} {k}s"
             for (k, c), n in groups.items()]
    return "I see " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]) + "."


def per_sample(run: vlmgrade.Run, model: str) -> dict[str, float]:
    return {j.sample_id: j.scores["grounded"] for j in run.judgment_records
            if j.model == model and j.rubric == "grounded" and j.scores.get("grounded") is not None}


def paired(a: dict[str, float], b: dict[str, float]) -> dict:
    both = sorted(set(a) & set(b))
    res = paired_difference([a[s] for s in both], [b[s] for s in both])
    return {"diff": res.diff, "ci": [res.ci_low, res.ci_high], "p": res.p, "n": res.n}


def split_figures(models: list[str], data: str, n: int, out: Path, max_new_tokens: int) -> dict:
    run = vlmgrade.evaluate(models=models, data=data, limit=n, judge="grounded", rubrics=["grounded"],
                            controls=True, out=str(out), quiet=True, max_new_tokens=max_new_tokens)
    samples = load_samples(data, n)
    oracle = {s.id: check(oracle_listing(s), s.prefix, s.objects)[0]["grounded"] for s in samples}
    models = [m.split("=", 1)[0] if "=" in m else m for m in models]  # LABEL=SOURCE: captions carry LABEL
    rows = {}
    for label in ("constant", *models, "reference"):
        e = mean_ci(list(per_sample(run, label).values()))
        rows[label] = {"mean": e.mean, "ci": [e.ci_low, e.ci_high], "n": e.n}
    e = mean_ci(list(oracle.values()))
    rows["oracle listing"] = {"mean": e.mean, "ci": [e.ci_low, e.ci_high], "n": e.n}
    for i, m in enumerate(models):
        mine = per_sample(run, m)
        rows[m]["vs_constant"] = paired(mine, per_sample(run, "constant"))
        rows[m]["vs_rotated"] = paired(mine, per_sample(run, m + ROTATED))
        rows[m]["rotated_mean"] = mean_ci(list(per_sample(run, m + ROTATED).values())).mean
        if i + 1 < len(models):
            rows[m]["vs_next"] = paired(per_sample(run, models[i + 1]), mine)  # the next rung minus this one
    return rows


def _p(x: dict) -> str:
    p = x["p"]
    return f"{x['diff']:+.3f} [{x['ci'][0]:+.3f}, {x['ci'][1]:+.3f}] p={'<1e-6' if p < 1e-6 else f'{p:.2g}'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--style", choices=sorted(LADDERS), default="short")
    parser.add_argument("--splits", default="test,test-novel")
    parser.add_argument("--models", help="comma-separated, lowest rung first (default: the shipped ladder)")
    parser.add_argument("--out", default="reports/ladder")
    parser.add_argument("--max-new-tokens", type=int, help="default: 48 for short texts, 100 for long")
    args = parser.parse_args()
    models = args.models.split(",") if args.models else LADDERS[args.style]
    figures = {}
    for split in args.splits.split(","):
        data = f"scenes-{args.style}:{split}"
        tokens = args.max_new_tokens or (100 if args.style == "long" else 48)
        rows = split_figures(models, data, args.n, Path(args.out) / f"{args.style}-{split}", tokens)
        figures[data] = rows
        print(f"\n{data}, n={args.n}: grounded mean [95% CI]")
        for label, r in rows.items():
            line = f"  {label:28} {r['mean']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"
            if "vs_constant" in r:
                line += f"  rotated {r['rotated_mean']:.3f}"
            print(line)
        for m in (m.split("=", 1)[0] for m in models):
            r = rows[m]
            print(f"  {m}: - constant {_p(r['vs_constant'])}; - rotated {_p(r['vs_rotated'])}"
                  + (f"; next rung - this {_p(r['vs_next'])}" if "vs_next" in r else ""))
    print(json.dumps({"models": models, "n": args.n, "figures": figures}))


if __name__ == "__main__":
    main()
