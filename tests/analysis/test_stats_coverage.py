"""Simulated judges with known true means: the intervals cover the truth about 95% of the time, and the
paired test rejects a true null about 5% of the time. Seeds are fixed, so the figures are exact."""

import numpy as np

from vlmgrade.analysis.stats import bootstrap_ci, cluster_bootstrap_ci, mean_ci, paired_difference

SCORES = np.arange(1, 11)
PROBS = np.array([0.02, 0.04, 0.08, 0.12, 0.16, 0.2, 0.18, 0.11, 0.06, 0.03])  # a judge's 1-10 habits
TRUE_MEAN = float((SCORES * PROBS).sum())
RUNS, N = 1000, 40


def covers(estimate, truth) -> bool:
    return estimate.ci_low <= truth <= estimate.ci_high


def test_t_and_bootstrap_intervals_cover_the_true_mean_about_95_percent():
    rng = np.random.default_rng(0)
    t_hits = boot_hits = 0
    for run in range(RUNS):
        x = rng.choice(SCORES, size=N, p=PROBS).tolist()
        t_hits += covers(mean_ci(x), TRUE_MEAN)
        boot_hits += covers(bootstrap_ci(x, seed=run, n_resamples=1000), TRUE_MEAN)
    print(f"t coverage {t_hits / RUNS:.3f}, bootstrap coverage {boot_hits / RUNS:.3f}")
    assert 0.93 <= t_hits / RUNS <= 0.97
    assert 0.93 <= boot_hits / RUNS <= 0.97


def test_paired_test_rejects_a_true_null_about_5_percent():
    rng = np.random.default_rng(1)
    rejections = 0
    for _ in range(RUNS):
        quality = rng.normal(0, 1, N)  # how good each caption is: both judges see the same captions
        a = np.clip(np.round(5.5 + 1.5 * quality + rng.normal(0, 1, N)), 1, 10)
        b = np.clip(np.round(5.5 + 1.5 * quality + rng.normal(0, 1, N)), 1, 10)
        rejections += paired_difference(a, b).p < 0.05
    print(f"false rejections {rejections / RUNS:.3f}")
    assert rejections / RUNS <= 0.065


def test_repeats_do_not_shrink_the_cluster_interval_falsely():
    """K=3 repeats of a judge that mostly agrees with itself: t over all 3N values pretends to have 3N
    independent samples and under-covers; the cluster bootstrap does not."""
    rng = np.random.default_rng(2)
    naive = cluster = 0
    runs = 500
    for run in range(runs):
        item = rng.normal(0, 1.5, N)  # the caption's true quality; the truth is 0
        values = np.concatenate([item + rng.normal(0, 0.3, N) for _ in range(3)])
        ids = [str(i) for i in range(N)] * 3
        naive += covers(mean_ci(values.tolist()), 0.0)
        cluster += covers(cluster_bootstrap_ci(values.tolist(), ids, seed=run, n_resamples=1000), 0.0)
    print(f"naive t over repeats {naive / runs:.3f}, cluster bootstrap {cluster / runs:.3f}")
    assert naive / runs < 0.85
    assert 0.92 <= cluster / runs <= 0.97


# Exact coverage of the Wilson interval (binomial sums, no simulation noise) where it leaves 93-97%: the
# binomial's steps make every interval for shares oscillate; these are the grid's cells outside the band,
# each with its figure (the README lists them). A t interval of the same shares covers 0.096 at n=10, p=0.99.
WILSON_OUTSIDE_BAND = {(10, 0.5): 0.979, (10, 0.99): 0.904, (30, 0.9): 0.974, (100, 0.99): 0.921}


def test_share_intervals_cover_93_to_97_percent_or_say_where_they_cannot():
    """Issue 23, item 9: 0-1 shares at n = 10, 30, 100, 500 and p = 0.5, 0.9, 0.99."""
    from scipy import stats

    from vlmgrade.analysis.stats import wilson_ci

    table = {}
    for n in (10, 30, 100, 500):
        for p in (0.5, 0.9, 0.99):
            covered = 0.0
            for k in range(n + 1):
                e = wilson_ci([1.0] * k + [0.0] * (n - k))
                covered += stats.binom.pmf(k, n, p) * (e.ci_low <= p <= e.ci_high)
            table[(n, p)] = round(covered, 3)
    print("Wilson coverage", table)
    for cell, coverage in table.items():
        if cell in WILSON_OUTSIDE_BAND:
            assert coverage == WILSON_OUTSIDE_BAND[cell], cell
        else:
            assert 0.93 <= coverage <= 0.97, (cell, coverage)
    assert wilson_ci([1.0] * 3).ci_low < 0.5  # three yeses are no certainty
    for n in range(1, 200):  # the interval holds its mean exactly at 0 and 1, with no rounding past it
        none, every = wilson_ci([0.0] * n), wilson_ci([1.0] * n)
        assert none.ci_low == 0.0 == none.mean and every.ci_high == 1.0 == every.mean


def test_the_ranker_separates_models_of_equal_quality_at_most_5_percent_of_the_time():
    """Issue 23, item 9: under the null (two models, the same judge habits) the leaderboard's ranks stay tied."""
    from vlmgrade.analysis.comparison import rank_by_intervals
    from vlmgrade.core.better import Better

    rng = np.random.default_rng(3)
    separated = 0
    for _ in range(RUNS):
        rows = []
        for model in ("a", "b"):
            e = mean_ci(rng.choice(SCORES, size=N, p=PROBS).tolist())
            rows.append({"model": model, "mean": e.mean, "ci_low": e.ci_low, "ci_high": e.ci_high})
        rank_by_intervals(rows, Better.HIGHER)
        separated += rows[0]["rank"] != rows[1]["rank"]
    print(f"false separations {separated / RUNS:.3f}")
    assert separated / RUNS <= 0.05


def test_a_paired_interval_stays_inside_the_scale_it_compares():
    """Differences of 0-1 scores lie in [-1, 1]; a t interval on 8 samples reached 1.058 before."""
    from vlmgrade.analysis.stats import paired_difference

    a, b = [1, 1, 1, 0, 1, 1, 0, 1], [0, 0, 0, 0, 1, 0, 0, 0]
    assert paired_difference(a, b).ci_high > 1  # the unbounded t interval
    bounded = paired_difference(a, b, span=1.0)
    assert bounded.ci_high == 1.0 and bounded.ci_low == paired_difference(a, b).ci_low
