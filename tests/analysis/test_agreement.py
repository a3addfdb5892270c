"""Agreement between judges: the figures equal their textbook formulas; `vlmgrade agree` and the report's
repeat agreement read the judgments both sides share."""

import functools
import json

import numpy as np

from tests.helpers import PAPER, run_args
from vlmgrade.analysis import agreement
from vlmgrade.analysis.agreement import figures
from vlmgrade.cli import main
from vlmgrade.testing.server import Reply, scripted_scores


def kappa_formula(a, b):
    """Quadratic-weighted Cohen's kappa, categories every whole number between the extremes."""
    cats = np.arange(min(a.min(), b.min()), max(a.max(), b.max()) + 1)
    index = {v: i for i, v in enumerate(cats)}
    observed = np.zeros((len(cats), len(cats)))
    for x, y in zip(a, b):
        observed[index[x], index[y]] += 1
    expected = np.outer(observed.sum(1), observed.sum(0)) / len(a)
    weights = (cats[:, None] - cats[None, :]) ** 2.0
    return 1 - (weights * observed).sum() / (weights * expected).sum()


def alpha_formula(a, b, level):
    """Krippendorff's alpha for two raters and no missing value, from the coincidence-matrix definition."""
    pooled = np.concatenate([a, b]).astype(float)
    n = len(pooled)
    values, counts = np.unique(pooled, return_counts=True)
    freq = dict(zip(values, counts))

    def delta2(c, k):
        if level == "interval":
            return (c - k) ** 2
        lo, hi = min(c, k), max(c, k)
        between = sum(freq[g] for g in values if lo <= g <= hi)
        return (between - (freq[c] + freq[k]) / 2) ** 2

    observed = sum(2 * delta2(x, y) for x, y in zip(a, b)) / n
    expected = sum(freq[c] * freq[k] * delta2(c, k) for c in values for k in values) / (n * (n - 1))
    return 1 - observed / expected


def test_kappa_and_alpha_equal_their_formulas():
    rng = np.random.default_rng(7)
    for trial in range(20):
        truth = rng.integers(1, 11, 40)
        a = np.clip(truth + rng.integers(-2, 3, 40), 1, 10)
        b = np.clip(truth + rng.integers(-3, 4, 40) * (trial % 3), 1, 10)
        got = figures(a.astype(float), b.astype(float))
        assert abs(got["kappa_quadratic"] - kappa_formula(a, b)) < 1e-9
        assert abs(got["alpha_interval"] - alpha_formula(a, b, "interval")) < 1e-9
        assert abs(got["alpha_ordinal"] - alpha_formula(a, b, "ordinal")) < 1e-9
        assert abs(got["mean_abs_diff"] - np.mean(np.abs(a - b))) < 1e-12


def test_perfect_agreement_and_undefined_figures():
    x = np.array([1.0, 4, 7, 9, 9, 2])
    got = figures(x, x)
    assert got["kappa_quadratic"] == 1.0 and got["alpha_interval"] == 1.0 and got["spearman"] == 1.0
    shares = np.array([0.2, 0.5, 0.7])  # not whole numbers: no categories, so no kappa
    assert figures(shares, shares[::-1])["kappa_quadratic"] is None


def _shifted_judge(shift):
    """The scripted judge's scores, moved by `shift` on every other criterion (a second, harsher judge)."""
    def reply(body, n):
        scores = scripted_scores(body, PAPER)
        moved = {c: max(1, min(10, v - shift * (i % 2))) for i, (c, v) in enumerate(scores.items())}
        return Reply(json.dumps({**moved, "feedback": "ok"}))
    return reply


def _per_sample(folder, criterion):
    rows = [json.loads(x) for x in (folder / "judgments.jsonl").read_text().splitlines()]
    return {r["sample_id"]: r["scores"][criterion] for r in rows}


def test_agree_compares_two_judges_on_the_samples_both_scored(tiny_model, env, capsys, judge_server, monkeypatch):
    for name, shift in (("a", 0), ("b", 2)):  # two judges: two servers (the endpoint is part of every cache key)
        server = judge_server(_shifted_judge(shift))
        assert main(run_args(tiny_model, server.base_url, env / name, limit=12, max_new_tokens=6,
                             rubric="nanovlm-paper")) == 0
    capsys.readouterr()
    assert main(["agree", str(env / "a"), str(env / "b"), "--format", "json"]) == 0
    rows = {r["criterion"]: r for r in json.loads(capsys.readouterr().out)["rows"]}
    assert set(rows) == set(PAPER)
    for criterion in ("grammar", "creativity"):  # unshifted, then shifted by 2
        a, b = _per_sample(env / "a", criterion), _per_sample(env / "b", criterion)
        x, y = np.array([a[s] for s in sorted(a)]), np.array([b[s] for s in sorted(a)])
        r = rows[criterion]
        assert r["n"] == 12 and abs(r["mean_abs_diff"] - np.mean(np.abs(x - y))) < 1e-12
        assert abs(r["kappa_quadratic"] - kappa_formula(x, y)) < 1e-9
        assert abs(r["alpha_interval"] - alpha_formula(x, y, "interval")) < 1e-9
        assert r["alpha_interval_ci_low"] <= r["alpha_interval"] <= r["alpha_interval_ci_high"]
    assert rows["grammar"]["kappa_quadratic"] == 1.0 and rows["creativity"]["kappa_quadratic"] < 1.0
    # the CSV is read for its columns only: its intervals from 100 resamples, not 1000 (each takes seconds)
    monkeypatch.setattr(agreement, "agree", functools.partial(agreement.agree, n_resamples=100))
    assert main(["agree", str(env / "a"), str(env / "b"), "--format", "csv"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert {"spearman", "kappa_quadratic_ci_low", "alpha_ordinal", "mean_abs_diff_ci_high"} <= set(header)
    assert main(["agree", str(env / "a"), str(env / "missing")]) == 2
    assert "run folder not found" in capsys.readouterr().err


def test_repeats_show_the_judge_agreeing_with_itself_in_the_report(tiny_model, env, judge_server, monkeypatch):
    def noisy(body, n):  # a judge at temperature > 0: each request gets its own scores
        return Reply(json.dumps({**scripted_scores({**body, "n": n}, PAPER), "feedback": "ok"}))

    # the report is read for its headings only: its intervals from 100 resamples, not 1000 (each takes seconds)
    monkeypatch.setattr(agreement, "repeat_agreement", functools.partial(agreement.repeat_agreement, n_resamples=100))
    server = judge_server(noisy)
    assert main(run_args(tiny_model, server.base_url, env / "r", "--repeats", "2", "--judge-temperature",
                         "0.7", limit=8, max_new_tokens=6, rubric="nanovlm-paper")) == 0
    html = (env / "r" / "report.html").read_text()
    assert "Judge agreement with itself" in html and "Krippendorff α (interval)" in html
