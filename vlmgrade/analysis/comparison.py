"""Paired comparisons of two models and leaderboards across runs, over in-memory `Run`s (no files).

`compare` pairs judgments by sample (repeats averaged per sample first) and tests the difference per
criterion: mean difference with a t interval, the Wilcoxon signed-rank p value, Holm across the
criteria of a rubric. `leaderboard` reads only each run's score rows; which way a criterion is better
comes from its rows (`better`).
"""

from __future__ import annotations

from collections.abc import Sequence

from vlmgrade.analysis.grouping import per_sample_means
from vlmgrade.analysis.stats import holm, paired_difference
from vlmgrade.core.better import Better
from vlmgrade.core.errors import UserError
from vlmgrade.core.run import Run
from vlmgrade.core.types import Judgment


def _span(scale: object) -> float | None:
    """hi - lo of a row's [lo, hi] scale, None when the row has none (pairwise shares, older runs)."""
    if isinstance(scale, (list, tuple)) and len(scale) == 2 and all(isinstance(x, (int, float)) for x in scale):
        return float(scale[1]) - float(scale[0])
    return None


def paired_rows(rows_a: Sequence[dict], judgments_a: Sequence[Judgment], model_a: str, rows_b: Sequence[dict],
                judgments_b: Sequence[Judgment], model_b: str) -> list[dict]:
    """Per criterion both models have: {rubric, criterion, model_a, model_b, n, diff (a - b), ci_low, ci_high,
    p, p_holm, better}; Holm within each rubric."""
    criteria = [(r["rubric"], r["criterion"], Better.of(r.get("better"))) for r in rows_a if r["model"] == model_a]
    spans = {(r["rubric"], r["criterion"]): _span(r.get("scale")) for r in rows_a if r["model"] == model_a}
    theirs = {(r["rubric"], r["criterion"]) for r in rows_b if r["model"] == model_b}
    criteria = [c for c in criteria if c[:2] in theirs]
    if not criteria:
        raise UserError("the two runs share no rubric criterion")
    out = []
    for rubric, criterion, better in criteria:
        a = per_sample_means(judgments_a, model_a, rubric, criterion)
        b = per_sample_means(judgments_b, model_b, rubric, criterion)
        both = sorted(set(a) & set(b))
        res = paired_difference([a[s] for s in both], [b[s] for s in both], span=spans[(rubric, criterion)])
        out.append({"rubric": rubric, "criterion": criterion, "model_a": model_a, "model_b": model_b, "n": res.n,
                    "diff": res.diff, "ci_low": res.ci_low, "ci_high": res.ci_high, "p": res.p,
                    "better": better.value})
    for rubric in dict.fromkeys(r["rubric"] for r in out):  # one family per rubric
        family = [r for r in out if r["rubric"] == rubric]
        for r, adjusted in zip(family, holm([r["p"] for r in family])):
            r["p_holm"] = adjusted
    return out


def compare(run_a: Run, run_b: Run, model_a: str | None = None, model_b: str | None = None,
            allow_mixed: bool = False) -> dict:
    """{"run_a", "run_b", "rows": paired_rows(...)} for two runs (or one run twice, two of its models)."""
    differences = [d for d in mixed([run_a, run_b]) if not d.startswith("sample sets")]  # pairing handles those
    if differences and not allow_mixed:
        raise UserError(f"refusing to compare runs that are not comparable: {'; '.join(differences)} "
                        "(--allow-mixed to compare anyway)")
    model_a = model_a or run_a.models[0]
    if model_b is None:
        others = [m for m in run_b.models if run_b.folder != run_a.folder or m != model_a]
        if not others:
            raise UserError("nothing to compare: give two runs, or a run with two models (--models A B)")
        model_b = others[0]
    for run, model in ((run_a, model_a), (run_b, model_b)):
        if model not in run.models:
            raise UserError(f"model {model!r} is not in {run.folder} ({', '.join(run.models)})")
    rows = paired_rows(run_a.rows, run_a.judgment_records, model_a, run_b.rows, run_b.judgment_records, model_b)
    return {"run_a": str(run_a.folder), "run_b": str(run_b.folder), "rows": rows}


def _differ(label: str, values: list) -> list[str]:
    distinct = sorted({str(v) for v in values})
    return [f"{label} {' vs '.join(distinct)}"] if len(distinct) > 1 else []


def _endpoint(run: Run) -> str | None:
    """The judge's endpoint: scores.json's, else run.json's (older runs recorded it only there)."""
    endpoint = run.record.get("judge_endpoint") or (run.info.get("judge") or {}).get("endpoint")
    return str(endpoint).rstrip("/") if endpoint else None


def mixed(runs: Sequence[Run]) -> list[str]:
    """What keeps these runs' scores from being comparable: judges, rubric versions, data (name, version,
    sample set) and probability weighting that differ."""
    versions: dict[str, set] = {}
    for run in runs:
        for name, info in (run.record.get("rubrics") or {}).items():
            versions.setdefault(name, set()).add(f"v{info.get('version')} {info.get('hash')}")
    data = [r.record.get("data") or {} for r in runs]
    out = _differ("judges", [r.record.get("judge") for r in runs])
    # the same model name at two endpoints (a gateway, a local server) is two judges; older records lack it
    out += _differ("judge endpoints", [e for e in map(_endpoint, runs) if e])
    out += [f"rubric {n} in {len(v)} versions ({'; '.join(sorted(v))})" for n, v in versions.items() if len(v) > 1]
    out += _differ("data", [d.get("name") for d in data]) + _differ("data versions", [d.get("version") for d in data])
    if not _differ("data", [d.get("name") for d in data]):
        out += _differ("sample sets", [d.get("samples") for d in data])
    out += _differ("probability weighting", [bool(r.record.get("weighted")) for r in runs])
    return out


MIN_RANKED_SAMPLES = 10  # a criterion scored on fewer samples (or on under half the group's most) is shown, not ranked


def leaderboard(runs: Sequence[Run], allow_mixed: bool = False) -> dict:
    """Rows of the runs' score rows plus `run` and `rank` per rubric and criterion; judge controls and
    baselines are no contestants. Ranks come from paired tests on the samples two contestants share (Holm
    across the pairs; see `rank_by_paired_tests`), and `paired_n` says on how few shared samples a row's
    comparisons rest. Runs without their judgments (a bare scores.json) and pairwise strengths rank by
    intervals instead."""
    differences = mixed(runs)
    if differences and not allow_mixed:
        raise UserError(f"refusing to rank runs that are not comparable: {'; '.join(differences)} (--allow-mixed to "
                        "rank anyway)")
    labels = run_labels(runs)
    by_label = dict(zip(labels, runs))
    rows = [{**r, "run": label} for label, run in by_label.items() for r in run.rows if not r.get("control")]
    for key in dict.fromkeys((r["rubric"], r["criterion"]) for r in rows):
        group = [r for r in rows if (r["rubric"], r["criterion"]) == key]
        better = Better.of(group[0].get("better"))
        per_sample = None if any(r.get("pairwise") for r in group) else _per_sample(group, by_label)
        if per_sample is None:
            rank_by_intervals(group, better)
            for r in group:
                r["rank_method"] = "intervals"
        else:
            rank_by_paired_tests(group, per_sample, better)
    return {"rows": rows, "mixed": differences}


def run_labels(runs: Sequence[Run]) -> list[str]:
    """What tables call each run: its folder's name, or its whole path where two runs share a name."""
    names = [run.name for run in runs]
    return [str(run.folder) if names.count(run.name) > 1 else run.name for run in runs]


def _per_sample(group: list[dict], runs: dict[str, Run]) -> list[dict[str, float]] | None:
    """Each row's per-sample means, or None when a run's judgments cannot be had."""
    out = []
    for r in group:
        try:
            judgments = runs[r["run"]].judgment_records
        except UserError:
            return None
        means = per_sample_means(judgments, r["model"], r["rubric"], r["criterion"])
        if not means and r["n"]:
            return None  # the scores say it was scored; the judgments do not: rank by what scores.json holds
        out.append(means)
    return out


def rank_by_paired_tests(rows: list[dict], per_sample: list[dict[str, float]], better: Better) -> None:
    """Every two contestants compared on their shared samples (Wilcoxon, Holm across all pairs of the group).
    X beats Y when the adjusted p < 0.05 and the mean and the median of the differences agree on the sign
    (else the test and the direction would speak of different things: no winner). A contestant's rank is 1 +
    the longest chain of such wins above it, so a model beaten is always ranked below whoever beat it, and
    models not separated share a rank. Contestants: scored on at least MIN_RANKED_SAMPLES samples and on
    half the samples of the best covered."""
    most = max((len(s) for s in per_sample), default=0)
    eligible = [i for i, s in enumerate(per_sample) if len(s) >= max(MIN_RANKED_SAMPLES, (most + 1) // 2)]
    tests = [_paired(per_sample[i], per_sample[j], better) + (i, j)
             for x, i in enumerate(eligible) for j in eligible[x + 1:]]
    wins = [(i, j) if sign > 0 else (j, i) for (p, sign, _, i, j), adjusted in zip(tests, holm([t[0] for t in tests]))
            if adjusted is not None and adjusted < 0.05 and sign]
    rank = {i: 1 for i in eligible}
    for _ in eligible:  # longest chain of wins; a cycle of wins stops after as many rounds as contestants
        for winner, loser in wins:
            rank[loser] = max(rank[loser], rank[winner] + 1)
    shared = {i: [n for (_, _, n, a, b) in tests if i in (a, b)] for i in eligible}
    for i, r in enumerate(rows):
        r["rank_method"] = "paired"
        if i in rank:
            # paired_n: None when no other contestant was there to be paired with
            r["rank"], r["paired_n"] = rank[i], min(shared[i], default=None)
        else:
            r["rank"], r["paired_n"] = None, None
            r["not_ranked"] = (f"scored on {len(per_sample[i])} samples (ranked from {MIN_RANKED_SAMPLES}, and half "
                               f"the {most} of the best covered)")


def _paired(a: dict[str, float], b: dict[str, float], better: Better) -> tuple[float | None, int, int]:
    """(Wilcoxon p, the sign of a - b in the better direction where mean and median agree else 0, shared n)."""
    import numpy as np

    shared = sorted(set(a) & set(b))
    x, y = [better.oriented(a[s]) for s in shared], [better.oriented(b[s]) for s in shared]
    res = paired_difference(x, y)
    signs = {int(np.sign(res.diff)), int(np.sign(np.median(np.subtract(x, y))))} if shared else {0}
    return res.p, signs.pop() if len(signs) == 1 else 0, len(shared)


def rank_by_intervals(rows: list[dict], better: Better) -> None:
    """Order by mean, best first; a model starts a new rank only when its interval no longer overlaps the
    interval of the best model of the current rank: overlapping models are not told apart."""
    # a mean without an interval (fewer than 2 samples) is shown, not ranked
    scored = sorted((r for r in rows if r["mean"] is not None and r["ci_low"] is not None),
                    key=lambda r: better.oriented(r["mean"]), reverse=True)
    rank, leader = 0, None
    for i, r in enumerate(scored):
        # the leader's worst plausible value still beats this row's best: a new rank
        if leader is None or better.beats(_worst(leader, better), _best(r, better)):
            rank, leader = i + 1, r
        r["rank"] = rank
    for r in rows:
        r.setdefault("rank", None)


def _best(row: dict, better: Better) -> float:
    return row["ci_high"] if better is Better.HIGHER else row["ci_low"]


def _worst(row: dict, better: Better) -> float:
    return row["ci_low"] if better is Better.HIGHER else row["ci_high"]
