"""Pure statistics over plain numbers: no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def estimate(values: Sequence[float], method: str = "t", seed: int = 0) -> Estimate:
    if method == "t":
        return mean_ci(values)
    if method == "bootstrap":
        return bootstrap_ci(values, seed=seed)
    raise ValueError(f"unknown interval method {method!r}")
