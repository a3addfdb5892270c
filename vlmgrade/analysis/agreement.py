"""Agreement between two sets of judgments of the same captions: two runs (`vlmgrade agree`), two judges,
or two repeats of one judge (report.html when a run has --repeats > 1).

Judgments pair on (model, rubric, criterion, sample); a sample's repeats are averaged first. The
statistics come from well-kept libraries: Spearman from scipy, quadratic-weighted Cohen's kappa from
scikit-learn, Krippendorff's alpha (interval and ordinal) from `krippendorff`. Every figure has a
percentile bootstrap interval over samples (the same resampled samples for all figures).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from vlmgrade.analysis.grouping import by_caption, mean_by, per_sample_means
from vlmgrade.analysis.stats import spearman
from vlmgrade.core.types import Judgment

FIGURES = ("spearman", "kappa_quadratic", "alpha_interval", "alpha_ordinal", "mean_abs_diff")


def kappa_quadratic(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cohen's kappa with quadratic weights; defined for ratings on a scale of whole numbers only (a 0-1
    share or a mean of repeats is not a category), and undefined when both raters use one value. The
    categories are every whole number from the lowest to the highest rating, so the weights follow the
    distance between scores (scikit-learn would otherwise space the observed values evenly)."""
    from sklearn.metrics import cohen_kappa_score

    if len(a) < 2 or not (np.all(a == np.round(a)) and np.all(b == np.round(b))):
        return None
    if len(np.union1d(a, b)) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = np.arange(int(min(a.min(), b.min())), int(max(a.max(), b.max())) + 1)
        k = float(cohen_kappa_score(a.astype(int), b.astype(int), labels=labels, weights="quadratic"))
    return k if np.isfinite(k) else None


def krippendorff_alpha(table: np.ndarray, level: str) -> float | None:
    """Alpha of raters (rows) over items (columns), at `level` "interval" or "ordinal"."""
    import krippendorff

    if table.shape[1] < 2 or len(np.unique(table[np.isfinite(table)])) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = float(krippendorff.alpha(reliability_data=table, level_of_measurement=level))
    return a if np.isfinite(a) else None


def figures(a: np.ndarray, b: np.ndarray) -> dict[str, float | None]:
    pair = np.vstack([a, b])
    return {"spearman": spearman(a, b), "kappa_quadratic": kappa_quadratic(a, b),
            "alpha_interval": krippendorff_alpha(pair, "interval"),
            "alpha_ordinal": krippendorff_alpha(pair, "ordinal"),
            "mean_abs_diff": float(np.mean(np.abs(a - b))) if len(a) else None}


@dataclass(frozen=True)
class AgreementRow:
    """How well two sets of judgments agree on one model x rubric x criterion, over the n shared samples."""

    model: str
    rubric: str
    criterion: str
    n: int
    spearman: float | None
    spearman_ci_low: float | None
    spearman_ci_high: float | None
    kappa_quadratic: float | None
    kappa_quadratic_ci_low: float | None
    kappa_quadratic_ci_high: float | None
    alpha_interval: float | None
    alpha_interval_ci_low: float | None
    alpha_interval_ci_high: float | None
    alpha_ordinal: float | None
    alpha_ordinal_ci_low: float | None
    alpha_ordinal_ci_high: float | None
    mean_abs_diff: float | None
    mean_abs_diff_ci_low: float | None
    mean_abs_diff_ci_high: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def agreement(model: str, rubric: str, criterion: str, a: Sequence[float], b: Sequence[float],
              n_resamples: int = 1000, seed: int = 0) -> AgreementRow:
    """Figures for paired ratings a[i], b[i] of the same sample i, with bootstrap intervals over samples."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    point = figures(a, b)
    rng = np.random.default_rng(seed)
    draws: dict[str, list[float]] = {k: [] for k in FIGURES}
    if len(a) >= 2:
        for _ in range(n_resamples):
            pick = rng.integers(0, len(a), len(a))
            for k, v in figures(a[pick], b[pick]).items():
                if v is not None and point[k] is not None:
                    draws[k].append(v)
    bounds = {}
    for k in FIGURES:
        # an interval only when most resamples define the figure; otherwise it would describe a subset
        ok = point[k] is not None and len(draws[k]) >= 0.9 * n_resamples
        low, high = np.quantile(draws[k], [0.025, 0.975]) if ok else (None, None)
        bounds[f"{k}_ci_low"] = None if low is None else float(low)
        bounds[f"{k}_ci_high"] = None if high is None else float(high)
    return AgreementRow(model, rubric, criterion, len(a), **point, **bounds)


def agree(judgments_a: Sequence[Judgment], judgments_b: Sequence[Judgment], criteria: Sequence[tuple[str, str]],
          n_resamples: int = 1000, seed: int = 0) -> list[AgreementRow]:
    """One row per model both sets judged x (rubric, criterion), on the samples both scored."""
    models = [m for m in dict.fromkeys(j.model for j in judgments_a) if any(j.model == m for j in judgments_b)]
    rows = []
    for model in models:
        for rubric, criterion in criteria:
            a = per_sample_means(judgments_a, model, rubric, criterion)
            b = per_sample_means(judgments_b, model, rubric, criterion)
            both = sorted(set(a) & set(b))
            if both:
                rows.append(agreement(model, rubric, criterion, [a[s] for s in both], [b[s] for s in both],
                                      n_resamples, seed))
    return rows


def repeat_agreement(judgments: Sequence[Judgment], criteria: Sequence[tuple[str, str]],
                     n_resamples: int = 1000) -> list[AgreementRow]:
    """Agreement of a run's first two repeats with each other: the judge against itself."""
    first = [j for j in judgments if j.repeat == 0]
    second = [j for j in judgments if j.repeat == 1]
    return agree(first, second, criteria, n_resamples) if second else []


@dataclass(frozen=True)
class Correlation:
    """Spearman's rho of a judge criterion with a reference metric across captions (model x sample)."""

    judge_rubric: str
    judge_criterion: str
    metric_rubric: str
    metric: str
    n: int
    rho: float | None
    ci_low: float | None
    ci_high: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def metric_correlations(judgments: Sequence[Judgment], judge_criteria: Sequence[tuple[str, str]],
                        metrics: Sequence[tuple[str, str]], n_resamples: int = 1000,
                        seed: int = 0) -> list[Correlation]:
    """Does the judge agree with the reference metrics? One row per judge criterion x metric, over the
    captions both scored (repeats averaged), with a percentile bootstrap interval over captions."""
    rng = np.random.default_rng(seed)
    rows = []
    for jr, jc in judge_criteria:
        judged = mean_by(judgments, jr, jc, by_caption)
        for mr, mc in metrics:
            measured = mean_by(judgments, mr, mc, by_caption)
            both = sorted(set(judged) & set(measured))
            a = np.array([judged[k] for k in both])
            b = np.array([measured[k] for k in both])
            rho = spearman(a, b)
            draws = []
            if rho is not None:
                for _ in range(n_resamples):
                    pick = rng.integers(0, len(both), len(both))
                    v = spearman(a[pick], b[pick])
                    if v is not None:
                        draws.append(v)
            low, high = np.quantile(draws, [0.025, 0.975]) if len(draws) >= 0.9 * n_resamples else (None, None)
            rows.append(Correlation(jr, jc, mr, mc, len(both), rho, None if low is None else float(low),
                                    None if high is None else float(high)))
    return rows
