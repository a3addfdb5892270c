"""Fluency from a word trigram language model with interpolated Kneser-Ney smoothing, fitted on the
built-in scenes' training texts (a small child's register).

`fluency(text, context)` is 2 ** -(H - H_ref), capped at 1, where H is the text's cross-entropy in bits
per word (given the words before it) and H_ref the median of held-out reference texts: a typical
reference scores about 1, and every extra bit of surprise per word halves the score. Shuffled words
cost several bits per word, so word salad scores near 0.
"""

from __future__ import annotations

import gzip
import json
import math
from collections import Counter
from functools import lru_cache
from pathlib import Path

from vlmgrade.judges.offline.claims import tokens

BOS, EOS = "<s>", "</s>"
DISCOUNT = 0.75


class KneserNey:
    """Interpolated Kneser-Ney over trigrams, with a uniform floor for unseen words."""

    def __init__(self, trigrams: Counter, vocab_size: int) -> None:
        self.tri = trigrams
        self.vocab_size = vocab_size + 1  # one slot for every unseen word
        self.ctx2: Counter = Counter()  # count of (a, b) as a trigram context
        self.types2: Counter = Counter()  # distinct c after (a, b)
        cont_bi: Counter = Counter()  # distinct a before (b, c): the bigram continuation count
        for (a, b, c), n in self.tri.items():
            self.ctx2[(a, b)] += n
            self.types2[(a, b)] += 1
            cont_bi[(b, c)] += 1
        self.cont_bi = cont_bi
        self.ctx1: Counter = Counter()  # sum of continuation counts with context b
        self.types1: Counter = Counter()
        cont_uni: Counter = Counter()
        for (b, c), n in cont_bi.items():
            self.ctx1[b] += n
            self.types1[b] += 1
            cont_uni[c] += 1
        self.cont_uni = cont_uni
        self.total_uni = sum(cont_uni.values())

    @classmethod
    def fit(cls, texts: list[str]) -> KneserNey:
        trigrams: Counter = Counter()
        vocab: set[str] = set()
        for text in texts:
            words = [BOS, BOS, *tokens(text), EOS]
            vocab.update(words)
            trigrams.update(zip(words, words[1:], words[2:]))
        return cls(trigrams, len(vocab))

    def _p1(self, c: str) -> float:
        return (self.cont_uni.get(c, 0) + 0.5) / (self.total_uni + 0.5 * self.vocab_size)

    def _p2(self, b: str, c: str) -> float:
        n = self.ctx1.get(b, 0)
        if not n:
            return self._p1(c)
        return (max(self.cont_bi.get((b, c), 0) - DISCOUNT, 0) + DISCOUNT * self.types1[b] * self._p1(c)) / n

    def prob(self, a: str, b: str, c: str) -> float:
        n = self.ctx2.get((a, b), 0)
        if not n:
            return self._p2(b, c)
        return (max(self.tri.get((a, b, c), 0) - DISCOUNT, 0) + DISCOUNT * self.types2[(a, b)] * self._p2(b, c)) / n

    def bits_per_word(self, text: str, context: str = "") -> float | None:
        """Cross-entropy of `text`'s words (and the end of text) given `context` before them."""
        history = [BOS, BOS, *tokens(context)]
        words = tokens(text)
        if not words:
            return None
        seq = history + words + [EOS]
        start = len(history)
        bits = [-math.log2(self.prob(seq[i - 2], seq[i - 1], seq[i])) for i in range(start, len(seq))]
        return sum(bits) / len(bits)


MODEL_FILE = Path(__file__).with_name("fluency-scenes.txt.gz")  # built by `python -m vlmgrade.judges.offline.fluency`
FIT_SCENES = 20_000  # training scenes (each with a short and a long text) the shipped counts come from


def build(path: Path = MODEL_FILE, n: int = FIT_SCENES) -> None:
    """Fit on the built-in training texts and write the trigram counts with H_ref (median bits per word
    of 300 val texts of each style) to a small gzip text file, so no run pays for the fit."""
    import statistics

    from vlmgrade.data.scenes import layout as scenes

    train = [scenes.make_scene("train", i) for i in range(n)]
    model = KneserNey.fit([s.short for s in train] + [s.long for s in train])
    val = [scenes.make_scene("val", i) for i in range(300)]
    reference = statistics.median(model.bits_per_word(t) for s in val for t in (s.short, s.long))
    header = {"data_version": scenes.VERSION, "scenes": n, "vocab_size": model.vocab_size - 1, "h_ref": reference}
    with gzip.open(path, "wt") as f:
        f.write(json.dumps(header) + "\n")
        for (a, b, c), count in sorted(model.tri.items()):
            f.write(f"{a} {b} {c}\t{count}\n")


@lru_cache(maxsize=1)
def scene_model() -> tuple[KneserNey, float]:
    """The shipped model of the built-in scenes' texts and its H_ref."""
    with gzip.open(MODEL_FILE, "rt") as f:
        header = json.loads(f.readline())
        trigrams: Counter = Counter()
        for line in f:
            gram, count = line.rstrip("\n").split("\t")
            trigrams[tuple(gram.split(" "))] = int(count)
    return KneserNey(trigrams, header["vocab_size"]), header["h_ref"]


def fluency(text: str, context: str = "") -> float | None:
    model, reference = scene_model()
    h = model.bits_per_word(text, context)
    return None if h is None else min(1.0, 2.0 ** -(h - reference))


if __name__ == "__main__":
    build()
    print(f"wrote {MODEL_FILE} ({MODEL_FILE.stat().st_size} bytes)")
