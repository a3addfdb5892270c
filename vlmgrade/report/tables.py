"""Leaderboards, comparisons, agreement and run lists as Markdown, CSV, JSON or LaTeX (the `--format` of
those commands), and the verdicts every report opens with. Each command's figures are one tidy pandas
DataFrame, the one the Python API returns: the CSV is that frame (one column per figure: `mean`, `ci_low`,
`ci_high`, `rank`, ...), the JSON its records, and the Markdown and LaTeX tables readable views of the same
rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from vlmgrade.core.better import Better
from vlmgrade.core.errors import UserError
from vlmgrade.core.fmt import csv_cell, interval, json_text, md_cell, num, printable, pvalue
from vlmgrade.core.types import Judgment

if TYPE_CHECKING:
    from vlmgrade.pipeline.summary import Summary


def records(frame: pd.DataFrame) -> list[dict]:
    """The frame's rows as plain dicts: missing values as None (pandas keeps NaN or NA; an infinite figure is
    no figure either), numpy numbers as Python ones."""
    def plain(v: object) -> object:
        if v is None or v is pd.NA or (isinstance(v, float) and not math.isfinite(v)):
            return None
        return v.item() if isinstance(v, np.generic) else v

    return [{k: plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def leaderboard_table(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """Models as rows; per criterion `mean [lo, hi] #rank`; an overall mean per rubric where every criterion
    points the same way and its scale is known (each rescaled to 0-1, and so labelled, when the scales
    differ: never a bare mean of BLEU and CIDEr); n and unscored."""
    rows = records(frame)
    criteria = list(dict.fromkeys((r["rubric"], r["criterion"]) for r in rows))
    rubrics = list(dict.fromkeys(r["rubric"] for r in rows))
    better = {(r["rubric"], r["criterion"]): Better.of(r.get("better")) for r in rows}
    overall = _overall_scales(rows, criteria, better)
    header = ["model", "run"] + [better[(rb, c)].label(f"{c} ({rb})" if len(rubrics) > 1 else c) for rb, c in criteria]
    header += [f"overall ({rb}{', each rescaled to 0-1' if rescaled else ''})" for rb, (_, rescaled) in overall.items()]
    header += ["n", "unscored"]
    body = []
    for model, run in dict.fromkeys((r["model"], r["run"]) for r in rows):
        mine = {(r["rubric"], r["criterion"]): r for r in rows if r["model"] == model and r["run"] == run}
        cells = [model, run]
        for key in criteria:
            r = mine.get(key)
            win = f" win {num(r['win_rate'])} vs {r['baseline']}" if r and r.get("win_rate") is not None else ""
            cells.append(num(None) if r is None or r["mean"] is None else
                         f"{num(r['mean'])} {interval(r['ci_low'], r['ci_high'])} {_rank(r)}{win}")
        for rb, (scales, rescaled) in overall.items():
            means = [(r["mean"] - scales[k][0]) / (scales[k][1] - scales[k][0]) if rescaled else r["mean"]
                     for k, r in mine.items() if k[0] == rb and r["mean"] is not None]
            # only over every criterion: a model missing its weakest one would otherwise look best overall
            cells.append(num(sum(means) / len(means)) if means and len(means) == len(scales) else num(None))
        cells += [str(max((r["n"] for r in mine.values()), default=0)),
                  str(max((r["n_unscored"] for r in mine.values()), default=0))]
        body.append(cells)
    return header, body


def _overall_scales(rows: list[dict], criteria: list[tuple[str, str]],
                    better: dict[tuple[str, str], Better]) -> dict[str, tuple[dict, bool]]:
    """{rubric: ({criterion key: (lo, hi)}, rescaled)} for the rubrics an overall mean may be given: every
    criterion higher-is-better with a known scale (records from before scales were kept get none)."""
    scales = {(r["rubric"], r["criterion"]): tuple(r["scale"]) for r in rows if r.get("scale")}
    out = {}
    for rb in dict.fromkeys(key[0] for key in criteria):
        keys = [key for key in criteria if key[0] == rb]
        if all(better[k] is Better.HIGHER and k in scales for k in keys):
            out[rb] = ({k: scales[k] for k in keys}, len({scales[k] for k in keys}) > 1)
    return out


def _rank(row: dict) -> str:
    """#rank and on how many shared samples it was decided, or that there is none."""
    if row.get("rank") is None:
        return "(not ranked)"
    return f"#{int(row['rank'])}" + (f" on {int(row['paired_n'])} paired" if row.get("paired_n") is not None else "")


def compare_table(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = ["rubric", "criterion", "n", "diff (a - b)", "95% CI", "p (Wilcoxon)", "p (Holm)"]
    body = [[r["rubric"], r["criterion"], str(r["n"]), num(r["diff"], 3), interval(r["ci_low"], r["ci_high"], 3),
             pvalue(r["p"]), pvalue(r.get("p_holm"))]
            for r in records(frame)]
    return header, body


def agreement_table(frame: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    from vlmgrade.analysis.agreement import FIGURES

    rows = records(frame)
    header = ["model", "rubric", "criterion", "n", "Spearman ρ", "kappa (quadratic)", "alpha (interval)",
              "alpha (ordinal)", "mean |a - b|"]
    body = [[r["model"], r["rubric"], r["criterion"], str(r["n"])]
            + [f"{num(r[k])} {interval(r[k + '_ci_low'], r[k + '_ci_high'])}" for k in FIGURES] for r in rows]
    return header, body


def csv_text(frame: pd.DataFrame) -> str:
    """The frame as CSV, formula-like cells neutralised (a spreadsheet must not run a model's name)."""
    def cell(v: object) -> object:
        if isinstance(v, (list, tuple)):  # a scale or a list of references: as JSON, not as Python writes it
            return csv_cell(json_text(list(v)))
        return v if v is None or isinstance(v, (int, float)) else csv_cell(v)

    return frame.rename(columns=csv_cell).map(cell).to_csv(index=False).rstrip("\n")


def render(header: list[str], body: list[list[str]], fmt: str, frame: pd.DataFrame, title: str = "",
           key: str = "rows") -> str:
    """Markdown or a LaTeX booktabs tabular (header and body, the title as a comment), or the frame itself:
    tidy CSV (formula-like cells neutralised) or JSON (`{key: records, **frame.attrs}`)."""
    if fmt == "latex":
        return latex_table([latex_escape(h) for h in header], [[latex_escape(c) for c in row] for row in body],
                           [title] if title else [])
    if fmt == "json":  # valid JSON: no NaN or Infinity, whatever a frame or its attrs hold
        return json_text({**frame.attrs, key: records(frame)}, indent=2, default=str)
    if fmt == "csv":
        return csv_text(frame)
    lines = ([md_cell(title), ""] if title else []) + ["| " + " | ".join(map(md_cell, header)) + " |",
                                              "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(md_cell, row)) + " |" for row in body]
    return "\n".join(lines)


# ---- LaTeX: booktabs tables (`--format latex`, `vlmgrade export`) ----

LATEX_SPECIAL = {"&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{", "}": r"\}",
                 "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}",
                 "\n": " ", "\r": " "}


def latex_escape(text: object) -> str:
    """Text safe in a LaTeX table cell: one line (no control character), each special character as its
    command, in one pass (a second pass would escape the backslashes the first one wrote)."""
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in printable(text))


def latex_table(header: list[str], body: list[list[str]], comments: Sequence[str] = ()) -> str:
    """A booktabs tabular of cells that are already LaTeX (escape text with `latex_escape` first): the first
    column left-aligned, the others centred; `comments` go above it as `%` lines."""
    lines = [f"% {' '.join(printable(c).split())}" for c in comments] + ["% needs \\usepackage{booktabs}",
                                                              "\\begin{tabular}{l" + "c" * (len(header) - 1) + "}",
                                                              "\\toprule", " & ".join(header) + " \\\\", "\\midrule"]
    lines += [" & ".join(row) + " \\\\" for row in body]
    return "\n".join(lines + ["\\bottomrule", "\\end{tabular}"])


# ---- verdicts: per criterion, the best model against each other one, paired ----

@dataclass(frozen=True)
class Contestant:
    """A model as verdicts and exports compare it: `label` is what they call it (the model, or `model (run)`
    across runs); `rows` and `judgments` are its run's, which paired tests read."""

    label: str
    model: str
    rows: Sequence[dict] = field(repr=False, compare=False)
    judgments: Sequence[Judgment] = field(repr=False, compare=False)


def contestants(rows: Sequence[dict], judgments: Sequence[Judgment], run: str = "") -> list[Contestant]:
    """A run's models as contestants: judge controls, scorers' baselines and pairwise rows are no contestants."""
    models = dict.fromkeys(r["model"] for r in rows if not r.get("control") and not r.get("pairwise"))
    return [Contestant(f"{m} ({run})" if run else m, m, rows, judgments) for m in models]


@dataclass(frozen=True)
class Versus:
    """The best model minus one other on one criterion, paired over the samples both have: `diff` as scored
    (best − other, not turned by the criterion's direction), its 95% t interval, the Wilcoxon p, and that p
    Holm-adjusted across the rubric's comparisons."""

    other: str
    n: int
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    p_holm: float | None
    better: Better

    @property
    def separated(self) -> bool:
        """Told apart: Holm p < 0.05 with the difference on the best model's side."""
        return (self.p_holm is not None and self.p_holm < 0.05 and self.diff is not None
                and self.better.oriented(self.diff) > 0)

    def evidence(self, best: str) -> str:
        diff = "-" if self.diff is None else f"{self.diff:+.3f}"
        return (f"{best} - {self.other} {diff} {interval(self.ci_low, self.ci_high, 3)}, Holm p {pvalue(self.p_holm)}, "
                f"n={self.n}")


@dataclass(frozen=True)
class Verdict:
    """One criterion: the model with the best mean (`best`, None when nothing was scored) against each other."""

    rubric: str
    criterion: str
    better: Better
    best: str | None
    mean: float | None
    versus: tuple[Versus, ...] = ()

    @property
    def runner_up(self) -> Versus | None:
        """The comparison with the second-best mean (versus lists the others best first)."""
        return self.versus[0] if self.versus else None

    def sentence(self) -> str:
        """The verdict in words, with its evidence."""
        if self.best is None:
            return "nothing scored"
        if not self.versus:
            return f"only {self.best} was scored (mean {num(self.mean, 3)})"
        if len(self.versus) == 1:
            v = self.versus[0]
            return (f"{self.best} is better than {v.other}" if v.separated
                    else f"{self.best} and {v.other} are not separated") + f": {v.evidence(self.best)}"
        won = [v for v in self.versus if v.separated]
        tied = [v for v in self.versus if not v.separated]
        if not won:
            return f"not separated: {self.best} has the best mean, but is not told apart from {self._list(tied)}"
        tail = f"; not separated from {self._list(tied)}" if tied else ""
        return f"{self.best} is best; better than {self._list(won)}{tail}"

    def _list(self, versus: Sequence[Versus]) -> str:
        return ", ".join(f"{v.other} ({v.evidence(self.best or '')})" for v in versus)


def run_verdicts(summary: Summary, judgments: Sequence[Judgment]) -> list[Verdict]:
    """A run's verdicts: its models (not its controls or baselines), with the summary's paired comparison of
    the first two models reused."""
    rows = [r.to_dict() for r in summary.rows]
    return verdicts(contestants(rows, judgments), summary.comparison["rows"] if summary.comparison else ())


def verdicts(entrants: Sequence[Contestant], known: Sequence[dict] = ()) -> list[Verdict]:
    """Per criterion (in the rows' order): the contestant with the best mean against every other one, paired
    (analysis.comparison.paired_rows), Holm across all of a rubric's comparisons. `known`: paired rows already
    computed (the run summary's comparison of its first two models) are used, not computed again."""
    from vlmgrade.analysis.stats import holm

    pairs = _Pairs(entrants, known)
    keys = list(dict.fromkeys((r["rubric"], r["criterion"]) for c in entrants for r in c.rows
                              if r["model"] == c.model and not r.get("pairwise")))
    found = [_verdict(key, entrants, pairs) for key in keys]
    out = []
    for rubric in dict.fromkeys(v.rubric for v in found):  # one Holm family per rubric
        mine = [v for v in found if v.rubric == rubric]
        adjusted = iter(holm([x.p for v in mine for x in v.versus]))
        out += [Verdict(v.rubric, v.criterion, v.better, v.best, v.mean,
                        tuple(Versus(x.other, x.n, x.diff, x.ci_low, x.ci_high, x.p, next(adjusted), x.better)
                              for x in v.versus)) for v in mine]
    return out


def _verdict(key: tuple[str, str], entrants: Sequence[Contestant], pairs: _Pairs) -> Verdict:
    scored = [(c, r) for c in entrants for r in c.rows
              if r["model"] == c.model and (r["rubric"], r["criterion"]) == key and r.get("mean") is not None]
    rows = [r for c in entrants for r in c.rows if r["model"] == c.model and (r["rubric"], r["criterion"]) == key]
    better = Better.of(rows[0].get("better"))
    if not scored:
        return Verdict(*key, better, None, None)
    scored.sort(key=lambda cr: better.oriented(cr[1]["mean"]), reverse=True)  # stable: ties keep the rows' order
    best = scored[0][0]
    versus = []
    for other, _ in scored[1:]:
        row = pairs.get(best, other, key)
        versus.append(Versus(other.label, row["n"], row["diff"], row["ci_low"], row["ci_high"], row["p"], None, better)
                      if row else Versus(other.label, 0, None, None, None, None, None, better))
    return Verdict(*key, better, best.label, scored[0][1]["mean"], tuple(versus))


class _Pairs:
    """Paired rows per two contestants, each pair computed once (for all its criteria) and turned round when
    asked the other way (a - b becomes b - a; the two-sided p stays)."""

    def __init__(self, entrants: Sequence[Contestant], known: Sequence[dict]) -> None:
        self.done: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        labels = {c.model: c.label for c in entrants}
        for r in known:
            if r["model_a"] in labels and r["model_b"] in labels:
                pair = (labels[r["model_a"]], labels[r["model_b"]])
                self.done.setdefault(pair, {})[(r["rubric"], r["criterion"])] = r

    def get(self, a: Contestant, b: Contestant, key: tuple[str, str]) -> dict | None:
        if (b.label, a.label) in self.done:
            row = self.done[(b.label, a.label)].get(key)
            return None if row is None else {**row, "diff": _neg(row["diff"]), "ci_low": _neg(row["ci_high"]),
                                             "ci_high": _neg(row["ci_low"])}
        if (a.label, b.label) not in self.done:
            self.done[(a.label, b.label)] = self._compute(a, b)
        return self.done[(a.label, b.label)].get(key)

    @staticmethod
    def _compute(a: Contestant, b: Contestant) -> dict[tuple[str, str], dict]:
        from vlmgrade.analysis.comparison import paired_rows

        try:
            rows = paired_rows(a.rows, a.judgments, a.model, b.rows, b.judgments, b.model)
        except UserError:  # no criterion in common: nothing to pair
            return {}
        return {(r["rubric"], r["criterion"]): r for r in rows}


def _neg(value: float | None) -> float | None:
    return None if value is None else -value
