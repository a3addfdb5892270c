"""What a run's judgments add up to: score rows (mean, 95% interval, n, unscored per model x rubric x
criterion) and the judge-noise table. Computed in memory; the writers only format them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlmgrade.analysis.agreement import krippendorff_alpha
from vlmgrade.analysis.grouping import by_caption, grouped_scores
from vlmgrade.analysis.stats import estimate, icc_oneway, spearman, wilson_ci
from vlmgrade.core.types import Caption, Judgment, ScoreRow
from vlmgrade.rubrics import Criterion, Rubric


def score_rows(judgments: Sequence[Judgment], rubrics: Sequence[Rubric], ci: str = "t",
               seed: int = 0) -> list[ScoreRow]:
    """One row per model x rubric x criterion that judged it (every caption goes through every rubric; a
    scorer's baseline, such as references' prefix-only, exists in its own rubric only and gets no empty
    rows elsewhere); repeats of one sample resample together (cluster bootstrap)."""
    rows = []
    for model in dict.fromkeys(j.model for j in judgments):
        for rubric in rubrics:
            mine = [j for j in judgments if j.model == model and j.rubric == rubric.name]
            if mine:
                rows += [_row(model, rubric.name, c, mine, ci, seed) for c in rubric.criteria]
    return rows


MIN_SAMPLES = 2  # fewer scored samples than this: a mean, but no interval and no rank


def _row(model: str, rubric: str, c: Criterion, mine: Sequence[Judgment], ci: str, seed: int) -> ScoreRow:
    """n counts samples, the unit intervals resample (with --repeats, n_judgments counts the judgments);
    n_unscored counts the samples with no score for this criterion."""
    scored = [j for j in mine if j.scores.get(c.name) is not None]
    samples = {j.sample_id for j in scored}
    n_unscored = len({j.sample_id for j in mine} - samples)
    judgments = len(scored) if len(scored) != len(samples) else None
    values = [j.scores[c.name] for j in scored]
    share = (c.lo, c.hi) == (0, 1)
    if share and values and set(values) <= {0, 1}:
        # yes/no outcomes: a share, with the interval made for shares; under --repeats each sample's share of
        # yeses counts once (n = samples, not judgments: repeats are no new evidence about other samples)
        per_sample: dict[str, list[float]] = {}
        for j in scored:
            per_sample.setdefault(j.sample_id, []).append(j.scores[c.name])
        e = wilson_ci([sum(v) / len(v) for v in per_sample.values()])
    else:  # other shares resample (a t interval of a share near 0 or 1 covers badly); --ci for the rest
        e = estimate(values, "bootstrap" if share else ci, seed, clusters=[j.sample_id for j in scored])
    if len(samples) < MIN_SAMPLES:
        reason = f"none: fewer than {MIN_SAMPLES} samples" if samples else "none: nothing scored"
        return ScoreRow(model, rubric, c.name, e.mean, None, None, reason, len(samples), n_unscored, c.better,
                        n_judgments=judgments, scale=(c.lo, c.hi))
    low, high, method = clipped(e.ci_low, e.ci_high, e.method, c.lo, c.hi)
    if len(set(values)) == 1 and method != "wilson":  # no spread observed is not certainty: say which it is
        method += "; every score identical"
    return ScoreRow(model, rubric, c.name, e.mean, low, high, method, len(samples), n_unscored, c.better,
                    n_judgments=judgments, scale=(c.lo, c.hi))


def clipped(low: float | None, high: float | None, method: str, lo: float, hi: float) -> tuple:
    """An interval never leaves the criterion's scale (a t interval of a 0-1 share near 0 or 1 would);
    `ci_method` says when it was clipped."""
    if low is None or high is None or (low >= lo and high <= hi):
        return low, high, method
    return max(low, lo), min(high, hi), f"{method}, clipped to {lo:g}-{hi:g}"


@dataclass(frozen=True)
class NoiseRow:
    """How much of a criterion's spread the judge itself may explain: length bias and repeat agreement."""

    rubric: str
    criterion: str
    rho_length: float | None  # Spearman of score with completion length in words
    repeats: int
    within_sd: float | None  # mean within-sample standard deviation across repeats
    icc: float | None  # ICC(1) across repeats
    alpha: float | None = None  # Krippendorff's alpha (interval) across repeats


def judge_noise(judgments: Sequence[Judgment], captions: Sequence[Caption],
                rubrics: Sequence[Rubric]) -> list[NoiseRow]:
    texts = {(c.model, c.sample_id): c.text for c in captions}
    out = []
    for rubric in rubrics:
        for c in rubric.criteria:
            mine = [j for j in judgments if j.rubric == rubric.name and j.scores.get(c.name) is not None]
            lengths = [len(texts.get((j.model, j.sample_id), "").split()) for j in mine]
            rho = spearman(lengths, [j.scores[c.name] for j in mine])
            by_item = grouped_scores(mine, rubric.name, c.name, by_caption)
            k = max((len(v) for v in by_item.values()), default=0)
            full = np.array([v for v in by_item.values() if len(v) == k]) if k > 1 else None
            sd = float(np.mean(full.std(axis=1, ddof=1))) if full is not None and len(full) else None
            icc = icc_oneway(full) if full is not None else None
            alpha = krippendorff_alpha(full.T, "interval") if full is not None and len(full) else None
            out.append(NoiseRow(rubric.name, c.name, rho, k, sd, icc, alpha))
    return out
