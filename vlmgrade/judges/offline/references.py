"""The offline `references` rubric: the captioning metrics every benchmark reports, against the sample's
references, from well-kept libraries (no Java): BLEU-4 and CIDEr-D from pycocoevalcap's pure-Python
scorers, ROUGE-L from Google's `rouge-score`.

What is compared: what the model wrote (the completion), against what each reference says after the
given prefix (a reference that does not begin with the prefix's words counts whole). The prefix is
the data's, not the model's: compared too, it scored an empty completion at ROUGE-L 0.45. An empty
completion scores 0. Both sides are lower-cased and split into words (letters, digits, apostrophes)
before scoring; the COCO toolkit's Java PTB tokenizer is not used.

Per completion: `bleu4` (pycocoevalcap's per-sentence BLEU-4), `rouge_l` (the best ROUGE-L F1 over the
references) and `cider_d` (pycocoevalcap's CIDEr-D, document frequencies from the references of all
the run's samples, x10 as in the COCO toolkit). Corpus level (`corpus_figures`): BLEU-4 from the pooled
n-gram counts (its brevity penalty over the corpus) and CIDEr-D's corpus mean, each with a bootstrap
interval over samples.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import numpy as np

from vlmgrade.core.types import Caption, Judgment, Sample
from vlmgrade.judges.protocol import ScoringContext, kept, unscored
from vlmgrade.judges.registry import JUDGE_KINDS

if TYPE_CHECKING:
    from vlmgrade.rubrics import Rubric
CORPUS_RESAMPLES = 200  # corpus BLEU is recomputed per resample: enough for a 95% percentile interval


def words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def description(sample: Sample, caption: Caption) -> str:
    """The prefix joined to the completion: the whole text a model's words end up in (memorisation reads it)."""
    return words(f"{sample.prefix} {caption.text}")


def continuation(reference: str, prefix: str) -> str:
    """What a reference says after the prefix: its words past the prefix's, when it begins with them."""
    ref, given = words(reference).split(), words(prefix).split()
    return " ".join(ref[len(given):] if given and ref[:len(given)] == given else ref)


def _bleu4(gts: dict, res: dict) -> tuple[float, list[float]]:
    from pycocoevalcap.bleu.bleu import Bleu

    corpus, per_sample = Bleu(4).compute_score(gts, res, verbose=0)
    return float(corpus[3]), [float(v) for v in per_sample[3]]


def _cider_d(gts: dict, res: dict) -> list[float]:
    from pycocoevalcap.cider.cider import Cider

    _, per_sample = Cider().compute_score(gts, res)
    return [float(v) for v in per_sample]


def _rouge_l(hypothesis: str, references: Sequence[str]) -> float:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"])
    return max(scorer.score(ref, hypothesis)["rougeL"].fmeasure for ref in references)


def _inputs(samples: Mapping[str, Sample], captions: Sequence[Caption]) -> tuple[dict, dict]:
    """(references' continuations, completions) by sample id, as the scorers take them."""
    gts = {c.sample_id: [continuation(r, samples[c.sample_id].prefix) for r in samples[c.sample_id].references]
           for c in captions}
    res = {c.sample_id: [words(c.text)] for c in captions}
    return gts, res


def judge_all(samples: Mapping[str, Sample], captions: Sequence[Caption], rubric: Rubric) -> list[Judgment]:
    """One judgment per caption; per model, since CIDEr-D weighs n-grams by the whole corpus of references."""
    out = []
    for model in dict.fromkeys(c.model for c in captions):
        mine = [c for c in captions if c.model == model]
        bare = [c for c in mine if not samples[c.sample_id].references]
        out += [Judgment(c.sample_id, c.model, rubric.name, unscored(rubric),
                         unscored_reason="sample has no references") for c in bare]
        scored = [c for c in mine if samples[c.sample_id].references]
        if not scored:
            continue
        gts, res = _inputs(samples, scored)
        _, bleu = _bleu4(gts, res)
        cider = _cider_d(gts, res)
        order = {sid: i for i, sid in enumerate(gts)}  # the scorers answer in the order of gts' keys
        for c in scored:
            i = order[c.sample_id]
            scores = {"bleu4": bleu[i], "rouge_l": _rouge_l(res[c.sample_id][0], gts[c.sample_id]), "cider_d": cider[i]}
            if not res[c.sample_id][0]:  # nothing written matches nothing (the libraries give smoothing crumbs)
                scores = dict.fromkeys(scores, 0.0)
            out.append(Judgment(c.sample_id, c.model, rubric.name, kept(rubric, scores)))
    return out


@dataclass(frozen=True)
class CorpusFigure:
    """A metric defined over the whole corpus of one model's captions (scores.json "corpus")."""

    model: str
    rubric: str
    metric: str  # corpus_bleu4 or corpus_cider_d
    value: float
    ci_low: float | None
    ci_high: float | None
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def corpus_figures(samples: dict[str, Sample], captions: Sequence[Caption], rubric: str = "references",
                   seed: int = 0, n_resamples: int = CORPUS_RESAMPLES) -> list[CorpusFigure]:
    rng = np.random.default_rng(seed)
    out = []
    for model in dict.fromkeys(c.model for c in captions):
        mine = [c for c in captions if c.model == model and samples[c.sample_id].references]
        if not mine:
            continue
        gts, res = _inputs(samples, mine)
        ids = list(gts)
        bleu, _ = _bleu4(gts, res)
        cider = float(np.mean(_cider_d(gts, res)))
        boot_bleu, boot_cider = [], []
        for _ in range(n_resamples if len(ids) >= 2 else 0):
            pick = [ids[i] for i in rng.integers(0, len(ids), len(ids))]
            # resampled samples get their own keys, so a sample drawn twice counts twice
            g = {f"{k}#{i}": gts[k] for i, k in enumerate(pick)}
            r = {f"{k}#{i}": res[k] for i, k in enumerate(pick)}
            boot_bleu.append(_bleu4(g, r)[0])
            boot_cider.append(float(np.mean(_cider_d(g, r))))
        for metric, value, boot in (("corpus_bleu4", bleu, boot_bleu), ("corpus_cider_d", cider, boot_cider)):
            low, high = np.quantile(boot, [0.025, 0.975]) if boot else (None, None)
            out.append(CorpusFigure(model, rubric, metric, value, None if low is None else float(low),
                                    None if high is None else float(high), len(ids)))
    return out


class ReferenceMetrics:
    """The registry's `references` kind: per-caption metrics, and corpus figures beside them."""

    def judge_all(self, rubric: Rubric, samples: Mapping[str, Sample], captions: Sequence[Caption],
                  context: ScoringContext) -> list[Judgment]:
        """The captions' metrics, and the baseline's: the given prefix written again as the completion,
        what a model scores that adds nothing of its own."""
        baseline = JUDGE_KINDS["references"].baseline_model
        copied = [Caption(sid, baseline, samples[sid].prefix) for sid in dict.fromkeys(c.sample_id for c in captions)
                  if not any(c.model == baseline for c in captions)]
        return judge_all(samples, [*captions, *copied], rubric)

    def corpus_figures(self, rubric: Rubric, samples: Mapping[str, Sample], captions: Sequence[Caption],
                       context: ScoringContext) -> list[CorpusFigure]:
        return corpus_figures(samples, captions, rubric.name, context.seed)
