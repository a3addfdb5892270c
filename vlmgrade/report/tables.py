"""Leaderboards, comparisons, agreement and run lists as Markdown, CSV or JSON (the `--format` of those
commands). Each command's figures are one tidy pandas DataFrame, the one the Python API returns: the CSV
is that frame (one column per figure: `mean`, `ci_low`, `ci_high`, `rank`, ...), the JSON its records, and
the Markdown table a readable view of the same rows.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from vlmgrade.core.better import Better
from vlmgrade.core.fmt import csv_cell, interval, md_cell, num, pvalue


def records(frame: pd.DataFrame) -> list[dict]:
    """The frame's rows as plain dicts: missing values as None (pandas keeps NaN or NA), numpy numbers as
    Python ones."""
    def plain(v: object) -> object:
        if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
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


def render(header: list[str], body: list[list[str]], fmt: str, frame: pd.DataFrame, title: str = "",
           key: str = "rows") -> str:
    """Markdown (header and body), or the frame itself: tidy CSV (formula-like cells neutralised) or JSON
    (`{key: records, **frame.attrs}`)."""
    if fmt == "json":
        return json.dumps({**frame.attrs, key: records(frame)}, indent=2, default=str)
    if fmt == "csv":
        safe = frame.rename(columns=csv_cell).map(lambda v: v if v is None or isinstance(v, (int, float))
                                                   else csv_cell(v))
        return safe.to_csv(index=False).rstrip("\n")
    lines = ([title, ""] if title else []) + ["| " + " | ".join(map(md_cell, header)) + " |",
                                              "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(md_cell, row)) + " |" for row in body]
    return "\n".join(lines)
