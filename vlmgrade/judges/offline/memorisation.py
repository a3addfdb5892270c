"""The offline `memorisation` rubric: does a model write its training texts back?

Per completion, the description it ends up in (the given prefix joined to the completion, as in
`references`) is compared with the training texts of the model:
- `train_rouge_l`: the best ROUGE-L F1 (`rouge-score`) against a training text;
- `train_4gram_share`: the share of its word 4-grams that occur in some training text.
The test references themselves get the same figures (rows marked `"control": true`, model
`reference`): what a model that describes new pictures in the training texts' own register scores
without copying. A model well above them copies.

Which training texts: `--train-data NAME|PATH`, else the `train_data`/`train_size` in the model
folder's training.json (every model `vlmgrade train` wrote, the shipped ones included).

Speed: an index, not a loop over all pairs. A hash set of the training 4-grams answers the share; word
bigram postings (numpy arrays of text ids) pick, per completion, the CANDIDATES training texts that
share the most bigrams with it, and ROUGE-L is computed on those only. A training text sharing no
bigram with the completion cannot have the longest common subsequence of a top candidate unless the
texts are very short, so the best over the candidates is the best over all in practice.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from vlmgrade.core.errors import UserError
from vlmgrade.core.files import read_json
from vlmgrade.core.types import Caption, Judgment, Sample
from vlmgrade.judges.offline.references import description, words
from vlmgrade.judges.protocol import ScoringContext, kept, unscored
from vlmgrade.judges.registry import JUDGE_KINDS

if TYPE_CHECKING:
    from vlmgrade.rubrics import Rubric

CANDIDATES = 20
BASELINE = JUDGE_KINDS["memorisation"].baseline_model  # the rows of the test references' own figures


def _grams(tokens: list[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


@dataclass
class TrainingIndex:
    texts: list[str]  # lower-cased words, space-joined
    fourgrams: set[tuple[str, ...]]
    postings: dict[tuple[str, str], np.ndarray]  # word bigram -> ids of the training texts holding it

    @classmethod
    def build(cls, texts: Sequence[str]) -> TrainingIndex:
        plain = [words(t) for t in texts]
        fourgrams: set[tuple[str, ...]] = set()
        lists: dict[tuple[str, str], list[int]] = {}
        for i, text in enumerate(plain):
            tokens = text.split()
            fourgrams.update(_grams(tokens, 4))
            for bigram in set(_grams(tokens, 2)):
                lists.setdefault(bigram, []).append(i)
        return cls(plain, fourgrams, {k: np.asarray(v, dtype=np.int32) for k, v in lists.items()})

    def share_4grams(self, text: str) -> float | None:
        grams = _grams(words(text).split(), 4)
        return sum(g in self.fourgrams for g in grams) / len(grams) if grams else None

    def best_rouge_l(self, text: str) -> float:
        from rouge_score import rouge_scorer

        query = words(text)
        hits = [self.postings[b] for b in set(_grams(query.split(), 2)) if b in self.postings]
        if not hits:
            return 0.0
        counts = np.bincount(np.concatenate(hits), minlength=len(self.texts))
        top = np.argpartition(-counts, min(CANDIDATES, len(counts) - 1))[:CANDIDATES]
        scorer = rouge_scorer.RougeScorer(["rougeL"])
        return max(scorer.score(self.texts[i], query)["rougeL"].fmeasure for i in top if counts[i] > 0)


def training_source(source: str, override: str | None) -> tuple[str, int | None] | None:
    """(data name or path, how many of its texts) the model loaded from `source` (a zoo name or folder, not
    its label) was trained on, or None when unknown."""
    if override:
        return override, None
    from vlmgrade.zoo import resolve

    try:
        _, where = resolve(source)
    except UserError:
        return None
    record = Path(str(where)) / "training.json"
    if not os.path.lexists(record):
        return None
    # the model folder's own record, read as any file a user names: a broken one is one line, not a traceback,
    # and not "unknown" either (a directory or a FIFO in its place is refused by read_json)
    info = read_json(record, "training record")
    if not isinstance(info, dict):
        raise UserError(f"training record {record} must be a JSON object, got {type(info).__name__}")
    data, size = info.get("train_data"), info.get("train_size")
    if data is None:
        return None
    if not isinstance(data, str) or not data:
        raise UserError(f"training record {record}: train_data must be a data name or path, got {data!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise UserError(f"training record {record}: train_size must be a positive whole number, got {size!r}")
    return data, size


def training_texts(source: str, limit: int | None) -> list[str]:
    from vlmgrade.data.datasets import reference_texts

    texts = reference_texts(source, limit)
    if not texts:
        raise UserError(f"training data {source} has no texts")
    return texts


def judge_all(samples: Mapping[str, Sample], captions: Sequence[Caption], rubric: Rubric,
              context: ScoringContext) -> list[Judgment]:
    """One judgment per caption, plus the test references' own figures as model `reference` (unless the
    run's --controls already judge a `reference` caption). A model's training texts are found through the
    name it was loaded from (`LABEL=SOURCE` gives the label to its captions, the source to this lookup)."""
    out: list[Judgment] = []
    indexes: dict[tuple, TrainingIndex] = {}
    for model in dict.fromkeys(c.model for c in captions):
        mine = [c for c in captions if c.model == model]
        if model == BASELINE:
            source = next(iter(indexes), None)
        else:
            source = training_source(context.sources.get(model, model), context.train_data)
        if source is None:
            reason = f"the training texts of {model} are unknown: pass --train-data NAME|PATH"
            out += [Judgment(c.sample_id, c.model, rubric.name, unscored(rubric), reason) for c in mine]
            continue
        if source not in indexes:
            indexes[source] = TrainingIndex.build(training_texts(*source))
        out += [_judged(indexes[source], rubric, c.sample_id, c.model, description(samples[c.sample_id], c))
                for c in mine]
    if indexes and not any(c.model == BASELINE for c in captions):
        index = next(iter(indexes.values()))
        out += [_judged(index, rubric, sid, BASELINE, ref) for sid in dict.fromkeys(c.sample_id for c in captions)
                for ref in samples[sid].references[:1]]
    return out


def _judged(index: TrainingIndex, rubric: Rubric, sample_id: str, model: str, text: str) -> Judgment:
    computed = {"train_rouge_l": index.best_rouge_l(text), "train_4gram_share": index.share_4grams(text)}
    return Judgment(sample_id, model, rubric.name, kept(rubric, computed))


class MemorisationScorer:
    """The registry's `memorisation` kind."""

    def judge_all(self, rubric: Rubric, samples: Mapping[str, Sample], captions: Sequence[Caption],
                  context: ScoringContext) -> list[Judgment]:
        return judge_all(samples, captions, rubric, context)
