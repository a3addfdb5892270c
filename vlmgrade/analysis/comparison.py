"""Paired comparisons of two models and leaderboards across runs.

`compare` pairs judgments by sample (repeats averaged per sample first) and tests the difference
per criterion: mean difference with a t interval, the Wilcoxon signed-rank p value, Holm across the
criteria. Both work on in-memory runs (the runner's, for its report) and on run folders. `leaderboard`
reads only each run's scores.json; which way a criterion is better comes from its rows (`better`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from vlmgrade.analysis.stats import holm, paired_difference
from vlmgrade.core.errors import UserError
from vlmgrade.core.files import read_json
from vlmgrade.core.types import Judgment


@dataclass
class Run:
    """A run's scores.json and its judgments: built in memory by the runner, or read from a run folder."""

    folder: Path
    scores: dict
    _judgments: list[Judgment] | None = None

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(r["model"] for r in self.scores["rows"]))

    @property
    def judgments(self) -> list[Judgment]:
        if self._judgments is None:  # read on first use: a leaderboard needs only scores.json
            path = self.folder / "judgments.jsonl"
            if not path.exists():
                raise UserError(f"{self.folder} has no judgments.jsonl")
            self._judgments = [Judgment.from_dict(json.loads(line)) for line in path.read_text().splitlines()
                               if line.strip()]
        return self._judgments


def load_run(folder: str | Path) -> Run:
    folder = Path(folder)
    path = folder / "scores.json" if folder.is_dir() else folder
    if not path.exists():
        raise UserError(f"not a run folder: {folder} (no scores.json)")
    scores = read_json(path, "run scores")
    if not isinstance(scores, dict) or not isinstance(scores.get("rows"), list):
        raise UserError(f"{path} is not a vlmgrade scores.json (no 'rows')")
    return Run(path.parent, scores)


def per_sample_means(judgments: list[Judgment], model: str, rubric: str, criterion: str) -> dict[str, float]:
    """Mean score per sample over its scored repeats; unscored judgments drop out of the pairing."""
    sums: dict[str, list[float]] = {}
    for j in judgments:
        if j.model == model and j.rubric == rubric and j.scores.get(criterion) is not None:
            sums.setdefault(j.sample_id, []).append(j.scores[criterion])
    return {k: sum(v) / len(v) for k, v in sums.items()}


def compare(run_a: Run, run_b: Run, model_a: str | None = None, model_b: str | None = None,
            allow_mixed: bool = False) -> dict:
    """{"rows": [{criterion, rubric, model_a, model_b, n, diff (a - b), ci_low, ci_high, p, p_holm}]}."""
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
    ja, jb = run_a.judgments, run_b.judgments
    criteria = [(r["rubric"], r["criterion"], r.get("better", "higher")) for r in run_a.scores["rows"]
                if r["model"] == model_a]
    criteria = [c for c in criteria if any(r["rubric"] == c[0] and r["criterion"] == c[1] and r["model"] == model_b
                                           for r in run_b.scores["rows"])]
    if not criteria:
        raise UserError("the two runs share no rubric criterion")
    rows = []
    for rubric, criterion, better in criteria:
        a = per_sample_means(ja, model_a, rubric, criterion)
        b = per_sample_means(jb, model_b, rubric, criterion)
        both = sorted(set(a) & set(b))
        res = paired_difference([a[s] for s in both], [b[s] for s in both])
        rows.append({"rubric": rubric, "criterion": criterion, "model_a": model_a, "model_b": model_b, "n": res.n,
                     "diff": res.diff, "ci_low": res.ci_low, "ci_high": res.ci_high, "p": res.p, "better": better})
    for rubric in dict.fromkeys(r["rubric"] for r in rows):  # one family per rubric
        family = [r for r in rows if r["rubric"] == rubric]
        for r, adjusted in zip(family, holm([r["p"] for r in family])):
            r["p_holm"] = adjusted
    return {"run_a": str(run_a.folder), "run_b": str(run_b.folder), "rows": rows}


def mixed(runs: list[Run]) -> list[str]:
    """What keeps these runs' scores from being comparable: judges, rubric versions, data (name, version,
    sample set) and probability weighting that differ."""
    def differ(label: str, values: list) -> list[str]:
        distinct = sorted({str(v) for v in values})
        return [f"{label} {' vs '.join(distinct)}"] if len(distinct) > 1 else []

    versions: dict[str, set] = {}
    for run in runs:
        for name, info in (run.scores.get("rubrics") or {}).items():
            versions.setdefault(name, set()).add(f"v{info.get('version')} {info.get('hash')}")
    data = [r.scores.get("data") or {} for r in runs]
    out = differ("judges", [r.scores.get("judge") for r in runs])
    out += [f"rubric {n} in {len(v)} versions ({'; '.join(sorted(v))})" for n, v in versions.items() if len(v) > 1]
    out += differ("data", [d.get("name") for d in data]) + differ("data versions", [d.get("version") for d in data])
    if not differ("data", [d.get("name") for d in data]):
        out += differ("sample sets", [d.get("samples") for d in data])
    out += differ("probability weighting", [bool(r.scores.get("weighted")) for r in runs])
    return out


def leaderboard(runs: list[Run], allow_mixed: bool = False) -> dict:
    """Rows of the runs' scores.json plus `rank` per rubric and criterion (ties where intervals overlap)."""
    differences = mixed(runs)
    if differences and not allow_mixed:
        raise UserError(f"refusing to rank runs that are not comparable: {'; '.join(differences)} (--allow-mixed to "
                        "rank anyway)")
    rows = []
    for run in runs:
        for r in run.scores["rows"]:
            if not r.get("control"):  # judge controls are no contestants
                rows.append({**r, "run": run.scores.get("run", str(run.folder))})
    for key in dict.fromkeys((r["rubric"], r["criterion"]) for r in rows):
        group = [r for r in rows if (r["rubric"], r["criterion"]) == key]
        _rank(group, lower_is_better=any(r.get("better") == "lower" for r in group))
    return {"rows": rows, "mixed": differences}


def _rank(rows: list[dict], lower_is_better: bool) -> None:
    """Order by mean; a model starts a new rank only when its interval no longer overlaps the interval
    of the best model of the current rank: overlapping models are not told apart."""
    scored = [r for r in rows if r["mean"] is not None]
    scored.sort(key=lambda r: r["mean"], reverse=not lower_is_better)
    rank, leader = 0, None
    for i, r in enumerate(scored):
        if leader is None or (r["ci_low"] > leader["ci_high"] if lower_is_better else r["ci_high"] < leader["ci_low"]):
            rank, leader = i + 1, r
        r["rank"] = rank
    for r in rows:
        r.setdefault("rank", None)
