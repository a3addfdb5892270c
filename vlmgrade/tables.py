"""Leaderboards and comparisons as Markdown, CSV or JSON (the `--format` of those commands)."""

from __future__ import annotations

import csv
import io
import json

from vlmgrade.compare import LOWER_IS_BETTER


def _num(v, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def _p(v) -> str:
    return "-" if v is None else (f"{v:.2g}" if v < 0.001 else f"{v:.3f}")


def leaderboard_table(board: dict) -> tuple[list[str], list[list[str]]]:
    """Models as rows; per criterion `mean [lo, hi] #rank`; an overall mean per rubric where every
    criterion points the same way; n and unscored."""
    rows = board["rows"]
    criteria = list(dict.fromkeys((r["rubric"], r["criterion"]) for r in rows))
    rubrics = list(dict.fromkeys(r["rubric"] for r in rows))
    same_way = [rb for rb in rubrics if not any(c in LOWER_IS_BETTER for r_, c in criteria if r_ == rb)]
    header = ["model", "run"] + [f"{c} ({rb})" if len(rubrics) > 1 else c for rb, c in criteria]
    header += [f"overall ({rb})" for rb in same_way] + ["n", "unscored"]
    body = []
    for model, run in dict.fromkeys((r["model"], r["run"]) for r in rows):
        mine = {(r["rubric"], r["criterion"]): r for r in rows if r["model"] == model and r["run"] == run}
        cells = [model, run]
        for key in criteria:
            r = mine.get(key)
            cells.append("-" if r is None or r["mean"] is None else
                         f"{r['mean']:.2f} [{_num(r['ci_low'])}, {_num(r['ci_high'])}] #{r['rank']}")
        for rb in same_way:
            means = [r["mean"] for k, r in mine.items() if k[0] == rb and r["mean"] is not None]
            cells.append(_num(sum(means) / len(means)) if means else "-")
        cells += [str(max((r["n"] for r in mine.values()), default=0)),
                  str(max((r["n_unscored"] for r in mine.values()), default=0))]
        body.append(cells)
    return header, body


def compare_table(result: dict) -> tuple[list[str], list[list[str]]]:
    header = ["rubric", "criterion", "n", "diff (a - b)", "95% CI", "p (Wilcoxon)", "p (Holm)"]
    body = [[r["rubric"], r["criterion"], str(r["n"]), _num(r["diff"], 3),
             f"[{_num(r['ci_low'], 3)}, {_num(r['ci_high'], 3)}]", _p(r["p"]), _p(r.get("p_holm"))]
            for r in result["rows"]]
    return header, body


def render(header: list[str], body: list[list[str]], fmt: str, raw: dict, title: str = "") -> str:
    if fmt == "json":
        return json.dumps(raw, indent=2)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(header)
        writer.writerows(body)
        return buf.getvalue().rstrip("\n")
    lines = ([title, ""] if title else []) + ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)
