"""Pure statistics over plain numbers: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Estimate:
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    method: str = "t"


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean with a Student-t interval; a single value or constant values get a zero-width interval."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None], dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(None, None, None, 0)
    mean = float(x.mean())
    if n == 1 or float(x.std()) == 0.0:
        return Estimate(mean, mean, mean, n)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / np.sqrt(n))
    return Estimate(mean, mean - half, mean + half, n)


def wilson_ci(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """A share of yes/no outcomes (0s and 1s) with its Wilson score interval: it stays inside 0-1 and, unlike
    a t interval, does not collapse to a point when every outcome is the same (t covers a share of 0.99
    on 10 samples 10% of the time; Wilson 90%)."""
    from scipy import stats

    x = [v for v in values if v is not None]
    n = len(x)
    if n == 0:
        return Estimate(None, None, None, 0, "wilson")
    share = sum(x) / n
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * float(np.sqrt(share * (1 - share) / n + z * z / (4 * n * n))) / (1 + z * z / n)
    # at a share of 0 or 1 the bound equals the share exactly; rounding (5.55e-17) must not put it past the mean
    return Estimate(share, min(share, max(0.0, centre - half)), max(share, min(1.0, centre + half)), n, "wilson")


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, seed: int = 0,
                 n_resamples: int = 2000) -> Estimate:
    """Mean with a BCa bootstrap interval from scipy.stats.bootstrap (percentile when BCa degenerates)."""
    import warnings

    from scipy import stats

    x = np.asarray([v for v in values if v is not None], dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(None, None, None, 0, "bootstrap")
    mean = float(x.mean())
    if n == 1 or float(x.std()) == 0.0:
        return Estimate(mean, mean, mean, n, "bootstrap")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                              method="BCa", random_state=np.random.default_rng(seed))
        low, high = res.confidence_interval
        if not (np.isfinite(low) and np.isfinite(high)):
            res = stats.bootstrap((x,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                                  method="percentile", random_state=np.random.default_rng(seed))
            low, high = res.confidence_interval
    return Estimate(mean, float(low), float(high), n, "bootstrap")


def estimate(values: Sequence[float], method: str = "t", seed: int = 0,
             clusters: Sequence[str] | None = None) -> Estimate:
    """The interval a report shows. With repeated judgments of one sample (clusters that repeat), a
    cluster bootstrap replaces both t and plain bootstrap, which would treat repeats as independent."""
    if clusters is not None and len(set(clusters)) < len(clusters):
        return cluster_bootstrap_ci(values, clusters, seed=seed)
    if method == "t":
        return mean_ci(values)
    if method == "bootstrap":
        return bootstrap_ci(values, seed=seed)
    raise ValueError(f"unknown interval method {method!r}")


def cluster_bootstrap_ci(values: Sequence[float], clusters: Sequence[str], confidence: float = 0.95, seed: int = 0,
                         n_resamples: int = 2000) -> Estimate:
    """Mean over all values, interval from resampling whole clusters (a sample's repeats move together),
    so K judgments of one caption count as one piece of evidence, not K."""
    pairs = [(v, c) for v, c in zip(values, clusters) if v is not None]
    n = len(pairs)
    if n == 0:
        return Estimate(None, None, None, 0, "cluster-bootstrap")
    x = np.asarray([v for v, _ in pairs], dtype=float)
    ids = {c: i for i, c in enumerate(dict.fromkeys(c for _, c in pairs))}
    groups = np.asarray([ids[c] for _, c in pairs])
    sums = np.bincount(groups, weights=x)
    counts = np.bincount(groups).astype(float)
    mean = float(x.mean())
    if len(sums) == 1 or float(x.std()) == 0.0:
        return Estimate(mean, mean, mean, n, "cluster-bootstrap")
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(sums), size=(n_resamples, len(sums)))  # (R, clusters)
    boot = sums[picks].sum(1) / counts[picks].sum(1)  # ratio estimator of the pooled mean
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return Estimate(mean, float(low), float(high), n, "cluster-bootstrap")


@dataclass(frozen=True)
class Paired:
    n: int
    diff: float | None  # mean of (a - b) over the samples both have
    ci_low: float | None
    ci_high: float | None
    p: float | None  # scipy.stats.wilcoxon with its defaults


def paired_difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95,
                      span: float | None = None) -> Paired:
    """Paired comparison: t interval of the mean difference and the Wilcoxon signed-rank p value. `span`, the
    width of the scores' scale (hi - lo), bounds the interval to [-span, span]: on a few samples a t interval
    of differences between 0-1 scores can otherwise reach past 1 ([-0.358, 1.108] on 8 samples)."""
    import warnings

    from scipy import stats

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = len(d)
    if n == 0:
        return Paired(0, None, None, None, None)
    e = mean_ci(d.tolist(), confidence)
    if span is not None and e.ci_low is not None:
        e = replace(e, ci_low=max(-span, e.ci_low), ci_high=min(span, e.ci_high))
    if n < 2 or not np.any(d):
        return Paired(n, e.mean, e.ci_low, e.ci_high, 1.0 if n else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = float(stats.wilcoxon(a, b).pvalue)
    return Paired(n, e.mean, e.ci_low, e.ci_high, p)


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment across a family (the criteria of one comparison)."""
    present = [(p, i) for i, p in enumerate(pvalues) if p is not None]
    m = len(present)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def icc_oneway(table: np.ndarray) -> float | None:
    """ICC(1): agreement of K judge repeats (columns) over items (rows); 1 means the judge never wavers."""
    table = np.asarray(table, dtype=float)
    n, k = table.shape
    if n < 2 or k < 2:
        return None
    grand = table.mean()
    ms_between = k * ((table.mean(1) - grand) ** 2).sum() / (n - 1)
    ms_within = ((table - table.mean(1, keepdims=True)) ** 2).sum() / (n * (k - 1))
    denom = ms_between + (k - 1) * ms_within
    return float((ms_between - ms_within) / denom) if denom > 0 else None


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    from scipy import stats

    if len(x) < 3 or np.ptp(np.asarray(x, float)) == 0 or np.ptp(np.asarray(y, float)) == 0:
        return None
    return float(stats.spearmanr(x, y).statistic)
