"""Can a caption game the grounded judge? Wrong answers first: on N test scenes, completions built to be
false, picture-blind or degenerate, beside true ones in the scene texts' words and in plain English,
all graded by the grounded judge. Every false, blind or degenerate kind should score at most a quarter
of the reference's `grounded`; every true kind at least 0.8 of it.

    python bench/grounded_probes.py [--n 200] [--data scenes-short:test]

Prints the table (every criterion's mean and n per kind, and grounded as a share of the reference's),
the judge's time on a 5 MB caption against a 50 KB one, and, last, one JSON line with the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
from collections.abc import Callable
from statistics import mean

from vlmgrade.analysis.controls import words_after
from vlmgrade.analysis.stats import mean_ci
from vlmgrade.core.types import Sample, SceneObject
from vlmgrade.data.datasets import load_samples
from vlmgrade.data.scenes import geometry
from vlmgrade.data.scenes import layout as scenes
from vlmgrade.data.scenes.baselines import constant_text
from vlmgrade.data.scenes.drawing import COLORS
from vlmgrade.judges.offline.claims import read_claims
from vlmgrade.judges.offline.grounded import MAX_WORDS, check
from vlmgrade.testing.plain_english import phrasings, sentence_rest, true_sentence

CRITERIA = ("grounded", "precision", "coverage", "hallucination", "attributes", "relations", "counts", "fluency")
NUMBER = {1: "a", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven", 8: "eight"}
REVERSE = {"left of": "right of", "right of": "left of", "on top of": "under", "under": "on top of",
           "in front of": "behind", "behind": "in front of"}


def _group_phrase(kind: str, color: str, n: int) -> str:
    return f"{'an' if color[0] in 'aeiou' else 'a'} {color} {kind}" if n == 1 else \
        f"{NUMBER[n]} {color} {scenes.PLURALS[kind]}"


def _groups(objects: tuple[SceneObject, ...]) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for o in objects:
        out[(o.name, o.color)] = out.get((o.name, o.color), 0) + 1
    return out


def _listing(parts: list[str]) -> str:
    return "I see " + (parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]) + "."


def _wrong_color(kind: str, objects: tuple[SceneObject, ...], rng: random.Random) -> str:
    return rng.choice([c for c in COLORS if not any(o.name == kind and o.color == c for o in objects)])


def _edit_first(text: str, pattern: str, swap: Callable[[re.Match], str]) -> str | None:
    """The text with the first match of `pattern` replaced, or None when nothing matches."""
    m = re.search(pattern, text)
    return None if m is None else text[:m.start()] + swap(m) + text[m.end():]


class Probes:
    """Per sample, each kind of completion; None where a kind has nothing to say of that picture."""

    def __init__(self, samples: list[Sample], seed: int = 0) -> None:
        self.samples = samples
        self.rng = random.Random(seed)
        self.plain = [p for p in phrasings() if p[0] not in ("listing", "negation", "hedge")]

    def reference(self, i: int, s: Sample) -> str:
        return words_after(s.references[0], s.prefix)

    def lead(self, s: Sample) -> str:
        """The rest of the prefix's sentence when it says nothing checkable ('the park.'), so a built
        completion reads on from the prefix without borrowing the reference's claims; else nothing."""
        rest = sentence_rest(s.references[0], s.prefix)
        return rest if rest and not read_claims(rest, s.prefix) else ""

    def true_listing(self, i: int, s: Sample) -> str:
        return _listing([_group_phrase(k, c, n) for (k, c), n in _groups(s.objects).items()])

    def plain_english(self, i: int, s: Sample) -> str:
        listing = true_sentence("listing", "", phrasings()[i % 30][2], s.objects, self.rng)
        for _ in range(len(self.plain)):
            group, rel, phrasing = self.plain[self.rng.randrange(len(self.plain))]
            extra = true_sentence(group, rel, phrasing, s.objects, self.rng)
            if extra:
                return f"{listing} {extra}"
        return listing

    def one_synonym(self, i: int, s: Sample) -> str | None:
        swaps = {"big": "large", "small": "little", "dog": "puppy", "cat": "kitten", "cup": "mug", "box": "crate",
                 "rock": "stone", "house": "cottage", "bike": "bicycle", "plane": "airplane", "duck": "duckling"}
        return _edit_first(self.reference(i, s), r"\b(" + "|".join(swaps) + r")\b", lambda m: swaps[m.group(1)])

    def one_wrong_colour(self, i: int, s: Sample) -> str | None:
        pat = r"\b(" + "|".join(COLORS) + r") (" + "|".join(scenes.KINDS) + r")\b"
        return _edit_first(self.reference(i, s), pat,
                           lambda m: f"{_wrong_color(m.group(2), s.objects, self.rng)} {m.group(2)}")

    def one_wrong_size(self, i: int, s: Sample) -> str | None:
        return _edit_first(self.reference(i, s), r"\b(small|big)\b",
                           lambda m: "big" if m.group(1) == "small" else "small")

    def one_wrong_position(self, i: int, s: Sample) -> str | None:
        return _edit_first(self.reference(i, s), r"\b(left|right)\b",
                           lambda m: "right" if m.group(1) == "left" else "left")

    def one_wrong_count(self, i: int, s: Sample) -> str | None:
        words = {"two": "three", "three": "four", "four": "five"}
        return _edit_first(self.reference(i, s), r"\b(two|three|four)\b", lambda m: words[m.group(1)])

    def all_colours_wrong(self, i: int, s: Sample) -> str:
        return _listing([_group_phrase(k, _wrong_color(k, s.objects, self.rng), n)
                                                for (k, c), n in _groups(s.objects).items()])

    def all_counts_wrong(self, i: int, s: Sample) -> str:
        return _listing([_group_phrase(k, c, n + 1) for (k, c), n in _groups(s.objects).items()])

    def all_relations_reversed(self, i: int, s: Sample) -> str | None:
        unique = [o for o in s.objects if _groups(s.objects)[(o.name, o.color)] == 1]
        said = [f"The {a.color} {a.name} is {REVERSE[r]} the {b.color} {b.name}." for a in unique for b in unique
                for r in REVERSE if a is not b and geometry.relation_holds(a.box, r, b.box, clearly=True)]
        said += [f"The {o.color} {o.name} is on the {'right' if o.position == 'left' else 'left'}." for o in unique
                 if o.position in ("left", "right")]
        return " ".join(said[:4]) if said else None

    def every_kind_every_colour(self, i: int, s: Sample) -> str:
        return constant_text("every-colour")

    def every_kind(self, i: int, s: Sample) -> str:
        return constant_text()

    def fixed_sentence(self, i: int, s: Sample) -> str:
        return "I see a red ball next to a big brown dog."

    def another_pictures_text(self, i: int, s: Sample) -> str:
        other = self.samples[(i + 1) % len(self.samples)]
        return words_after(other.references[0], other.prefix)

    def word_salad(self, i: int, s: Sample) -> str:
        words = self.reference(i, s).replace(".", "").split()
        random.Random(i).shuffle(words)
        return " ".join(words) + "."

    def true_negations_added(self, i: int, s: Sample) -> str:
        absent = sorted(set(scenes.KINDS) - {o.name for o in s.objects})
        return f"{self.reference(i, s)} There is no {self.rng.choice(absent)}."

    def false_negations(self, i: int, s: Sample) -> str:
        return " ".join(f"There is no {c} {k}." for (k, c) in _groups(s.objects))

    def true_negations_only(self, i: int, s: Sample) -> str:
        absent = sorted(set(scenes.KINDS) - {o.name for o in s.objects})
        return " ".join(f"There is no {k}." for k in self.rng.sample(absent, 3))

    def hedge_added(self, i: int, s: Sample) -> str:
        absent = sorted(set(scenes.KINDS) - {o.name for o in s.objects})
        return f"{self.reference(i, s)} Maybe there is a {self.rng.choice(absent)} or a {s.objects[0].name}."

    def false_hedge(self, i: int, s: Sample) -> str:
        absent = self.rng.sample(sorted(set(scenes.KINDS) - {o.name for o in s.objects}), 4)
        return f"Maybe there is a {absent[0]} or a {absent[1]}. It could be a {absent[2]} or a {absent[3]}."

    def one_true_claim_five_times(self, i: int, s: Sample) -> str:
        o = s.objects[0]
        return " ".join([f"I see {_group_phrase(o.name, o.color, 1)}."] * 5)

    def empty(self, i: int, s: Sample) -> str:
        return ""

    def prefix_copied(self, i: int, s: Sample) -> str:
        return s.prefix


KINDS = {  # kind -> (what it is, method)
    "reference": ("true", "reference"), "true listing": ("true", "true_listing"),
    "true plain English": ("true", "plain_english"), "one synonym": ("true", "one_synonym"),
    "true negation added": ("true", "true_negations_added"), "true hedge added": ("true", "hedge_added"),
    "one wrong colour": ("partly false", "one_wrong_colour"), "one wrong size": ("partly false", "one_wrong_size"),
    "one wrong position": ("partly false", "one_wrong_position"),
    "one wrong count": ("partly false", "one_wrong_count"),
    "all colours wrong": ("false", "all_colours_wrong"), "all counts wrong": ("false", "all_counts_wrong"),
    "all relations reversed": ("false", "all_relations_reversed"), "false negations": ("false", "false_negations"),
    "false hedge": ("false", "false_hedge"),
    "true negations only": ("names nothing", "true_negations_only"),
    "every kind, every colour": ("blind", "every_kind_every_colour"), "every kind": ("blind", "every_kind"),
    "a fixed sentence": ("blind", "fixed_sentence"), "another picture's text": ("blind", "another_pictures_text"),
    "word salad": ("degenerate", "word_salad"),
    "one true claim five times": ("degenerate", "one_true_claim_five_times"),
    "empty": ("degenerate", "empty"), "the prefix copied": ("degenerate", "prefix_copied"),
}


# completions written here from the annotations: they read on from the prefix through a neutral lead
BUILT = {"true_listing", "plain_english", "all_colours_wrong", "all_counts_wrong", "all_relations_reversed",
         "false_negations", "true_negations_only", "false_hedge", "one_true_claim_five_times"}


def table(samples: list[Sample]) -> list[dict]:
    probes = Probes(samples)
    rows = []
    for name, (what, method) in KINDS.items():
        scores: dict[str, list[float]] = {c: [] for c in CRITERIA}
        for i, s in enumerate(samples):
            text = getattr(probes, method)(i, s)
            if text is None:
                continue
            if method in BUILT:
                text = f"{probes.lead(s)} {text}".strip()
            figures, _, _ = check(text, s.prefix, s.objects)
            for c in CRITERIA:
                if figures.get(c) is not None:
                    scores[c].append(figures[c])
        row = {"kind": name, "what": what}
        for c in CRITERIA:
            e = mean_ci(scores[c]) if scores[c] else None
            row[c] = None if e is None else round(e.mean, 3)
            row[f"{c}_n"] = len(scores[c])
        rows.append(row)
    ref = rows[0]["grounded"]
    for row in rows:
        row["share_of_reference"] = round(row["grounded"] / ref, 3) if ref else None
        row["ok"] = (row["share_of_reference"] >= 0.8 if row["what"] == "true" else
                     row["share_of_reference"] <= 0.25 if row["what"] in ("false", "blind", "degenerate") else None)
    return rows


def timing(sample: Sample) -> dict:
    """Seconds to read the claims of a 500 KB and a 5 MB caption with no word limit (linear work: a ratio
    near 10), and to judge a 5 MB one (judged on its first MAX_WORDS words)."""
    base = words_after(sample.references[0], sample.prefix) + " "
    out = {}
    for label, size in (("read_500KB", 500_000), ("read_5MB", 5_000_000)):
        text = base * (size // len(base))
        start = time.perf_counter()
        read_claims(text, sample.prefix)
        out[label] = round(time.perf_counter() - start, 3)
    text = base * (5_000_000 // len(base))
    start = time.perf_counter()
    check(text, sample.prefix, sample.objects)
    out["judge_5MB"] = round(time.perf_counter() - start, 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--data", default="scenes-short:test")
    args = parser.parse_args()
    samples = load_samples(args.data, args.n)
    rows = table(samples)
    print(f"{'kind':28} {'what':13} " + " ".join(f"{c[:6]:>6}" for c in CRITERIA) + "  n    share  ok")
    for r in rows:
        cells = " ".join(f"{r[c]:6.3f}" if r[c] is not None else "     -" for c in CRITERIA)
        ok = "" if r["ok"] is None else "yes" if r["ok"] else "NO"
        print(f"{r['kind']:28} {r['what']:13} {cells}  {r['grounded_n']:<4} {r['share_of_reference']:.3f}  {ok}")
    times = timing(samples[0])
    print(f"reading claims with no word limit: 500 KB {times['read_500KB']} s, 5 MB {times['read_5MB']} s "
          f"(ratio {times['read_5MB'] / max(times['read_500KB'], 1e-9):.1f} for 10x the text); judging a 5 MB "
          f"caption (first {MAX_WORDS} words read): {times['judge_5MB']} s")
    print(json.dumps({"data": args.data, "n": len(samples), "rows": rows, "seconds": times,
                      "mean_true_share": mean(r["share_of_reference"] for r in rows if r["what"] == "true")}))


if __name__ == "__main__":
    main()
