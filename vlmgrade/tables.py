"""Leaderboards and comparisons as Markdown, CSV or JSON (the `--format` of those commands)."""

from __future__ import annotations

import csv
import io
import json

from vlmgrade.fmt import csv_cell, interval, md_cell, num, pvalue


def leaderboard_table(board: dict) -> tuple[list[str], list[list[str]]]:
    """Models as rows; per criterion `mean [lo, hi] #rank`; an overall mean per rubric where every
    criterion points the same way; n and unscored."""
    rows = board["rows"]
    criteria = list(dict.fromkeys((r["rubric"], r["criterion"]) for r in rows))
    rubrics = list(dict.fromkeys(r["rubric"] for r in rows))
    lower = {(r["rubric"], r["criterion"]) for r in rows if r.get("better") == "lower"}
    same_way = [rb for rb in rubrics if not any(key in lower for key in criteria if key[0] == rb)]
    header = ["model", "run"] + [(f"{c} ({rb})" if len(rubrics) > 1 else c) + (" (lower is better)"
                                 if (rb, c) in lower else "") for rb, c in criteria]
    header += [f"overall ({rb})" for rb in same_way] + ["n", "unscored"]
    body = []
    for model, run in dict.fromkeys((r["model"], r["run"]) for r in rows):
        mine = {(r["rubric"], r["criterion"]): r for r in rows if r["model"] == model and r["run"] == run}
        cells = [model, run]
        for key in criteria:
            r = mine.get(key)
            win = f" win {num(r['win_rate'])} vs {r['baseline']}" if r and r.get("win_rate") is not None else ""
            cells.append(num(None) if r is None or r["mean"] is None else
                         f"{num(r['mean'])} {interval(r['ci_low'], r['ci_high'])} #{r['rank']}{win}")
        for rb in same_way:
            means = [r["mean"] for k, r in mine.items() if k[0] == rb and r["mean"] is not None]
            cells.append(num(sum(means) / len(means)) if means else num(None))
        cells += [str(max((r["n"] for r in mine.values()), default=0)),
                  str(max((r["n_unscored"] for r in mine.values()), default=0))]
        body.append(cells)
    return header, body


def compare_table(result: dict) -> tuple[list[str], list[list[str]]]:
    header = ["rubric", "criterion", "n", "diff (a - b)", "95% CI", "p (Wilcoxon)", "p (Holm)"]
    body = [[r["rubric"], r["criterion"], str(r["n"]), num(r["diff"], 3), interval(r["ci_low"], r["ci_high"], 3),
             pvalue(r["p"]), pvalue(r.get("p_holm"))]
            for r in result["rows"]]
    return header, body


def agreement_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    from vlmgrade.agreement import FIGURES

    header = ["model", "rubric", "criterion", "n", "Spearman ρ", "kappa (quadratic)", "alpha (interval)",
              "alpha (ordinal)", "mean |a - b|"]
    body = [[r["model"], r["rubric"], r["criterion"], str(r["n"])]
            + [f"{num(r[k])} {interval(r[k + '_ci_low'], r[k + '_ci_high'])}" for k in FIGURES] for r in rows]
    return header, body


def render(header: list[str], body: list[list[str]], fmt: str, raw: dict, title: str = "",
           tidy: list[dict] | None = None) -> str:
    """Markdown, CSV or JSON. With `tidy` rows, the CSV has one column per key (numbers, not "0.8 [..]")."""
    if fmt == "json":
        return json.dumps(raw, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        if tidy is not None:
            keys = list(dict.fromkeys(k for r in tidy for k in r))
            writer.writerow([csv_cell(k) for k in keys])
            writer.writerows([["" if r.get(k) is None else csv_cell(r.get(k)) for k in keys] for r in tidy])
        else:
            writer.writerow([csv_cell(h) for h in header])
            writer.writerows([[csv_cell(c) for c in row] for row in body])
        return buf.getvalue().rstrip("\n")
    lines = ([title, ""] if title else []) + ["| " + " | ".join(map(md_cell, header)) + " |",
                                              "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(md_cell, row)) + " |" for row in body]
    return "\n".join(lines)
