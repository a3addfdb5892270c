"""Pairwise rubrics: verdicts asked in both orders, read together, and turned into model strengths.

Every pair of models on every sample was judged twice, once with each model shown as A. The two
verdicts are read together (`outcomes`): a model wins only when both orders name it; two ties are a
tie; anything else (one order says A, the other says A too, or one ties and one does not) is
inconsistent and counts as a tie. Position bias is the share of sample-pairs whose two verdicts name
the same position (A and A, or B and B), which a judge that reads only the content never does.

From the outcomes, per criterion:
- a Bradley-Terry strength per model (log scale, mean 0 across the run's models: P(i beats j) =
  1 / (1 + exp(s_j - s_i))), fitted by maximum likelihood with scipy, ties as half a win each and half
  a tie of prior per compared pair so that a clean sweep stays finite; interval: percentile bootstrap
  over samples (a sample's verdicts move together);
- a win rate against the baseline model (win 1, tie 0.5, loss 0) with a bootstrap interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vlmgrade.analysis.stats import bootstrap_ci
from vlmgrade.core.better import Better
from vlmgrade.core.types import Judgment, ScoreRow
from vlmgrade.rubrics import Rubric

PRIOR_TIES = 0.5  # ties added to every compared pair: keeps a 100% winner's strength finite
CI_METHOD = "bradley-terry log-strength (mean 0), bootstrap over samples"


@dataclass(frozen=True)
class Outcome:
    """One sample-pair on one criterion, both orders read together; x comes before y in model order."""

    sample_id: str
    x: str
    y: str
    score_x: float  # 1: x won in both orders, 0: y did, 0.5: tie or inconsistent
    inconsistent: bool
    same_position: bool  # both orders named A, or both named B


def outcomes(judgments: Sequence[Judgment], rubric: str, criterion: str,
             models: Sequence[str]) -> tuple[list[Outcome], list[tuple[str, str]]]:
    """(outcomes, the (x, y) models of each sample-pair left out because a verdict of either order is missing)."""
    order = {m: i for i, m in enumerate(models)}
    verdicts: dict[tuple, float | None] = {}
    for j in judgments:
        if j.rubric == rubric and j.pair is not None:
            verdicts[(j.sample_id, j.pair, j.repeat)] = j.scores.get(criterion)
    out: list[Outcome] = []
    missing: list[tuple[str, str]] = []
    for (sample, (a, b), repeat), v_ab in verdicts.items():
        if order.get(a, -1) > order.get(b, -1):
            continue  # read each sample-pair once, from the order that shows the earlier model as A
        v_ba = verdicts.get((sample, (b, a), repeat))
        if v_ab is None or v_ba is None:
            missing.append((a, b))
            continue
        share_first, share_second = v_ab, 1.0 - v_ba  # a's share of the win in each order
        consistent = share_first == share_second
        out.append(Outcome(sample, a, b, share_first if consistent else 0.5, not consistent,
                           v_ab == v_ba and v_ab in (0.0, 1.0)))
    return out, missing


def _win_matrix(items: Sequence[Outcome], index: dict[str, int]) -> np.ndarray:
    wins = np.zeros((len(index), len(index)))
    for o in items:
        i, j = index[o.x], index[o.y]
        wins[i, j] += o.score_x
        wins[j, i] += 1.0 - o.score_x
    return wins


def bradley_terry(wins: np.ndarray) -> np.ndarray:
    """Log-strengths (mean 0) maximising sum_ij wins[i, j] * log sigmoid(s_i - s_j)."""
    from scipy.optimize import minimize

    k = wins.shape[0]
    compared = (wins + wins.T) > 0
    w = wins + compared * PRIOR_TIES / 2  # half a tie each way: a quarter win to each side

    def loss(s: np.ndarray) -> tuple[float, np.ndarray]:
        diff = s[:, None] - s[None, :]  # (k, k)
        p = 1.0 / (1.0 + np.exp(-diff))
        nll = -(w * np.log(np.clip(p, 1e-300, None))).sum()
        grad = -((w * (1 - p)).sum(1) - (w.T * (1 - p.T)).sum(1))
        return float(nll), grad

    s = minimize(loss, np.zeros(k), jac=True, method="L-BFGS-B").x
    return s - s.mean()


@dataclass(frozen=True)
class PairwiseSummary:
    """Per rubric: how the judge treated the order of the two completions (scores.json "pairwise")."""

    rubric: str
    baseline: str
    n_pairs: int  # sample-pairs (per repeat) with both orders judged
    n_verdicts: int  # those times the criteria: verdict pairs read together
    position_bias: float | None  # share of verdict pairs that name the same position
    inconsistent: float | None  # share of verdict pairs that disagree about the content (counted as ties)
    unscored: int  # verdict pairs left out for a missing verdict

    def to_dict(self) -> dict:
        return {"baseline": self.baseline, "n_pairs": self.n_pairs, "n_verdicts": self.n_verdicts,
                "position_bias": self.position_bias, "inconsistent": self.inconsistent, "unscored": self.unscored}


def pairwise_rows(judgments: Sequence[Judgment], rubric: Rubric, models: Sequence[str], baseline: str | None = None,
                  seed: int = 0, n_resamples: int = 500) -> tuple[list[ScoreRow], PairwiseSummary]:
    """Strength and win-rate rows per model x criterion, and the rubric's order summary."""
    baseline = baseline or models[0]
    index = {m: i for i, m in enumerate(models)}
    rng = np.random.default_rng(seed)
    rows, all_outcomes, unscored = [], [], 0
    for c in rubric.criteria:
        items, missing = outcomes(judgments, rubric.name, c.name, models)
        all_outcomes += items
        unscored += len(missing)
        samples = list(dict.fromkeys(o.sample_id for o in items))
        per_sample = [_win_matrix([o for o in items if o.sample_id == s], index) for s in samples]
        strength = bradley_terry(sum(per_sample)) if items else np.full(len(models), np.nan)
        boot = []
        if len(samples) >= 2:
            stacked = np.stack(per_sample)  # (S, k, k)
            for _ in range(n_resamples):
                boot.append(bradley_terry(stacked[rng.integers(0, len(samples), len(samples))].sum(0)))
        low, high = (np.quantile(boot, [0.025, 0.975], axis=0) if boot else (strength, strength))
        for m in models:
            i = index[m]
            mine = [o for o in items if m in (o.x, o.y)]
            win = _win_rate(items, m, baseline, seed) if m != baseline else (None, None, None)
            n = len({(o.sample_id, o.x, o.y) for o in mine})
            left_out = sum(m in pair for pair in missing)  # this model's sample-pairs with a verdict missing
            rows.append(ScoreRow(m, rubric.name, c.name, _num(strength[i]), _num(low[i]), _num(high[i]), CI_METHOD,
                                 n, left_out, Better.HIGHER, pairwise=True, win_rate=win[0], win_ci_low=win[1],
                                 win_ci_high=win[2], baseline=baseline))
    n = len(all_outcomes)
    summary = PairwiseSummary(rubric.name, baseline, len({(o.sample_id, o.x, o.y) for o in all_outcomes}), n,
                              sum(o.same_position for o in all_outcomes) / n if n else None,
                              sum(o.inconsistent for o in all_outcomes) / n if n else None, unscored)
    return rows, summary


def _win_rate(items: Sequence[Outcome], model: str, baseline: str, seed: int) -> tuple[float | None, ...]:
    """(mean, low, high) of the model's share of the win against the baseline, per sample then bootstrapped."""
    by_sample: dict[str, list[float]] = {}
    for o in items:
        if {o.x, o.y} == {model, baseline}:
            by_sample.setdefault(o.sample_id, []).append(o.score_x if o.x == model else 1.0 - o.score_x)
    e = bootstrap_ci([sum(v) / len(v) for v in by_sample.values()], seed=seed)
    return e.mean, e.ci_low, e.ci_high


def _num(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)
