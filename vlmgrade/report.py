"""Run folders: captions.jsonl, judgments.jsonl, scores.json, report.md, run.json; and the score table."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from vlmgrade.stats import estimate

SCORE_KEYS = ("model", "rubric", "criterion", "mean", "ci_low", "ci_high", "ci_method", "n", "n_unscored")


def score_rows(judgments: list[dict], rubrics, ci: str = "t", seed: int = 0) -> list[dict]:
    """One row per model x rubric x criterion: mean, 95% interval, n scored and n unscored."""
    rows = []
    models = list(dict.fromkeys(j["model"] for j in judgments))
    for model in models:
        for rubric in rubrics:
            mine = [j for j in judgments if j["model"] == model and j["rubric"] == rubric.name]
            for c in rubric.criteria:
                scored = [j for j in mine if j["scores"].get(c.name) is not None]
                values = [j["scores"][c.name] for j in scored]
                e = estimate(values, ci, seed, clusters=[j["sample_id"] for j in scored])
                rows.append({"model": model, "rubric": rubric.name, "criterion": c.name, "mean": e.mean,
                             "ci_low": e.ci_low, "ci_high": e.ci_high, "ci_method": e.method, "n": e.n,
                             "n_unscored": len(mine) - e.n})
    return rows


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("vlmgrade", "torch", "transformers", "openai", "numpy", "scipy", "jinja2"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _jsonl(path: Path, rows) -> None:
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def write_run(cfg, spec, rubrics, samples, captions, judgments, rows, counters) -> Path:
    run_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")  # noqa: UP017 - keeps 3.10 working
    out = Path(cfg.out) if cfg.out else Path("reports") / run_id
    out.mkdir(parents=True, exist_ok=True)
    _jsonl(out / "captions.jsonl", ({"id": c.sample_id, "model": c.model, "text": c.text} for c in captions))
    _jsonl(out / "judgments.jsonl", judgments)
    scores = {"run": run_id, "judge": spec.label, "rows": rows,
              "rubrics": {r.name: {"version": r.version, "hash": r.hash} for r in rubrics}}
    (out / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    run = {
        "run": run_id, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": {k: v for k, v in asdict(cfg).items() if k != "progress"},
        "judge": {"spec": spec.label, "model": spec.model, "endpoint": spec.endpoint if spec.model else None},
        "rubrics": {r.name: {"version": r.version, "hash": r.hash, "path": r.path} for r in rubrics},
        "n_samples": len(samples), "seed": cfg.seed, "versions": _versions(), **counters,
    }
    (out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    (out / "report.md").write_text(markdown(run, rows, judgments) + _examples(samples, captions))
    (out / "report.html").write_text(_html(out, run, rows, judgments, rubrics, samples, captions))
    return out


def _html(out: Path, run: dict, rows, judgments, rubrics, samples, captions) -> str:
    from vlmgrade.compare import compare, load_run
    from vlmgrade.html import render_html

    models = list(dict.fromkeys(c.model for c in captions))
    comparison = None
    if len(models) >= 2:
        the_run = load_run(out)
        comparison = compare(the_run, the_run, models[0], models[1])
    return render_html(run, rows, judgments, rubrics, samples, captions, comparison)


def _examples(samples, captions, n: int = 5) -> str:
    """What the models wrote for the first few samples: numbers mean little without the text."""
    by_id = {s.id: s for s in samples}
    lines = ["", "## Examples", "", "| sample | model | beginning | completion |", "|---|---|---|---|"]
    first = {s.id for s in samples[:n]}
    for c in captions:
        if c.sample_id in first:
            text = c.text.replace("|", "\\|")
            lines.append(f"| {c.sample_id} | {c.model} | {by_id[c.sample_id].prefix} | {text} |")
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def markdown(run: dict, rows: list[dict], judgments: list[dict]) -> str:
    lines = [f"# vlmgrade run {run['run']}", "",
             f"- data: `{run['config']['data']}` ({run['n_samples']} samples)",
             f"- models: {', '.join(f'`{m}`' for m in run['config']['models'])}",
             f"- judge: `{run['judge']['spec']}`; rubrics: "
             + ", ".join(f"`{n}` ({v['hash']})" for n, v in run["rubrics"].items()),
             f"- judge requests sent: {run['requests_sent']}, from cache: {run['cache_hits']}, "
             f"retries: {run['retries']}, failed: {run['failed_requests']}",
             f"- tokens: {run['usage']['total_tokens']}, cost: ${run.get('cost_usd', 0):.4f}", "",
             "| model | rubric | criterion | mean | 95% CI | n | unscored |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['rubric']} | {r['criterion']} | {_fmt(r['mean'])} | "
                     f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}] ({r['ci_method']}) | {r['n']} | {r['n_unscored']} |")
    reasons: dict[str, int] = {}
    for j in judgments:
        if j["unscored_reason"]:
            reasons[j["unscored_reason"]] = reasons.get(j["unscored_reason"], 0) + 1
    if reasons:
        lines += ["", "## Unscored", "", "| reason | count |", "|---|---|"]
        lines += [f"| {reason} | {n} |" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines) + "\n"


def print_table(rows: list[dict], title: str = "") -> None:
    """One small table per model x rubric, so names never have to fold in a narrow terminal."""
    from rich.console import Console
    from rich.table import Column, Table

    console = Console()
    if title:
        console.print(title)
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["rubric"]), []).append(r)
    for (model, rubric), group in groups.items():
        table = Table(Column("criterion", no_wrap=True), *(Column(h, no_wrap=True, justify="right")
                                                           for h in ("mean", "95% CI", "n", "unscored")),
                      title=f"{model} · {rubric}", title_justify="left")
        for r in group:
            table.add_row(r["criterion"], _fmt(r["mean"]), f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]",
                          str(r["n"]), str(r["n_unscored"]))
        console.print(table)
