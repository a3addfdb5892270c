"""Run folders: captions.jsonl, judgments.jsonl, scores.json, report.md, run.json; and the score table."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from vlmgrade.core.errors import UserError
from vlmgrade.core.files import jsonl_objects, read_json
from vlmgrade.core.fmt import interval, md_cell, num, pvalue
from vlmgrade.core.run import Run
from vlmgrade.core.types import Caption, Judgment, ScoreRow


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


def new_run_id() -> str:
    """Unique to the millisecond plus a random suffix: two runs started together never share a folder."""
    import secrets

    now = datetime.now(timezone.utc)  # noqa: UP017 - keeps 3.10 working
    return f"{now.strftime('%Y%m%d-%H%M%S')}-{now.microsecond // 1000:03d}-{secrets.token_hex(3)}"


def run_record(run_id: str, cfg, spec, rubrics, models: list[str], n_samples: int, data: dict, stats: dict) -> dict:
    """run.json: the full config, data name and version, versions, rubric hashes, judge, seed, timings,
    usage and cost."""
    config = asdict(cfg)
    config["output"] = {k: v for k, v in config["output"].items() if k != "progress"}
    return {
        "run": run_id, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "config": config, "data": data,
        "models": models,
        "judge": {"spec": spec.label, "model": spec.model, "endpoint": spec.endpoint if spec.model else None},
        "rubrics": {r.name: {"version": r.version, "hash": r.hash, "path": r.path} for r in rubrics},
        "n_samples": n_samples, "seed": cfg.seed, "versions": _versions(), **stats,
    }


def write_run(out: Path, run: dict, rubrics, samples, captions, judgments, summary) -> Path:
    """Write the run folder whole or not at all: every file goes into a hidden sibling folder first, which
    then replaces `out` by rename, so a kill mid-write leaves the old folder (or the new one) whole, never
    a mix that a leaderboard would read."""
    import os
    import shutil

    out.parent.mkdir(parents=True, exist_ok=True)
    staging = out.parent / f".{out.name}.writing-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        if (out / "batches.json").exists():  # written while the batches ran; part of this run
            shutil.copyfile(out / "batches.json", staging / "batches.json")
        _write_files(staging, run, rubrics, samples, captions, judgments, summary)
        if out.exists():
            old = out.parent / f".{out.name}.replaced-{os.getpid()}"
            os.rename(out, old)
            os.rename(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out


def _write_files(out: Path, run: dict, rubrics, samples, captions, judgments, summary) -> None:
    """Format what the run computed (`summary`, a runner.Summary); nothing here computes a score or reads
    a file back."""
    from vlmgrade.report.html import render_html

    rows, checks = summary.rows, summary.checks
    _jsonl(out / "captions.jsonl", ({"id": c.sample_id, "model": c.model, "text": c.text} for c in captions))
    _jsonl(out / "judgments.jsonl", (j.to_dict() for j in judgments))
    scores = {"run": run["run"], "judge": run["judge"]["spec"], "data": run["data"], "weighted": run["weighted"],
              "rows": [r.to_dict() for r in rows],
              "rubrics": {r.name: {"version": r.version, "hash": r.hash} for r in rubrics}}
    if checks:
        from vlmgrade.analysis.controls import flags

        scores["controls"] = {"checks": [c.to_dict() for c in checks], "flags": flags(checks)}
    if summary.pairwise:
        scores["pairwise"] = {p.rubric: p.to_dict() for p in summary.pairwise}
    if summary.corpus:
        scores["corpus"] = [f.to_dict() for f in summary.corpus]
    if summary.judge_vs_metrics:
        scores["judge_vs_metrics"] = [c.to_dict() for c in summary.judge_vs_metrics]
    (out / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    (out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    (out / "report.md").write_text(markdown(run, rows, judgments) + pairwise_markdown(summary.pairwise)
                                   + metrics_markdown(summary.corpus, summary.judge_vs_metrics)
                                   + controls_markdown(checks) + _examples(samples, captions))
    (out / "report.html").write_text(render_html(run, summary, judgments, rubrics, samples, captions))


def _examples(samples, captions, n: int = 5) -> str:
    """What the models wrote for the first few samples: numbers mean little without the text."""
    by_id = {s.id: s for s in samples}
    lines = ["", "## Examples", "", "| sample | model | beginning | completion |", "|---|---|---|---|"]
    first = {s.id for s in samples[:n]}
    for c in captions:
        if c.sample_id in first:
            lines.append(f"| {md_cell(c.sample_id)} | {md_cell(c.model)} | {md_cell(by_id[c.sample_id].prefix)} | "
                         f"{md_cell(c.text)} |")
    return "\n".join(lines) + "\n"


def markdown(run: dict, rows: list[ScoreRow], judgments) -> str:
    lines = [f"# vlmgrade run {run['run']}", "",
             f"- data: `{run['data']['name']}` ({run['data']['version']}, {run['n_samples']} samples)",
             f"- models: {', '.join(f'`{m}`' for m in run['models'])}",
             f"- judge: `{run['judge']['spec']}`; rubrics: "
             + ", ".join(f"`{n}` ({v['hash']})" for n, v in run["rubrics"].items()),
             f"- judge requests sent: {run['requests_sent']}, from cache: {run['cache_hits']}, "
             f"retries: {run['retries']}, failed: {run['failed_requests']}",
             f"- tokens: {run['usage']['total_tokens']}, cost: ${run.get('cost_usd', 0):.4f}",
             *(["- LLM scores are **probability-weighted**: the expectation over the judge's top-20 score tokens "
                "(plain scores in judgments.jsonl)"] if run.get("weighted") else []), "",
             "| model | rubric | criterion | mean | 95% CI | n | unscored | win rate vs baseline |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {md_cell(r.model)} | {md_cell(r.rubric)} | {md_cell(_criterion(r))} | {num(r.mean)} | "
                     f"{interval(r.ci_low, r.ci_high)} ({r.ci_method}) | {r.n} | {r.n_unscored} | {md_cell(_win(r))} |")
    reasons: dict[str, int] = {}
    for j in judgments:
        why = [j.unscored_reason] if j.unscored_reason else [f"{k}: {v}" for k, v in (j.details or {}).get(
            "unscored", {}).items()]
        for reason in why:
            reasons[reason] = reasons.get(reason, 0) + 1
    if reasons:
        lines += ["", "## Unscored", "", "| reason | count |", "|---|---|"]
        lines += [f"| {md_cell(reason)} | {n} |" for reason, n in sorted(reasons.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines) + "\n"


def metrics_markdown(corpus, correlations) -> str:
    """Corpus-level reference metrics, and how each judge criterion correlates with each metric."""
    lines = []
    if corpus:
        lines += ["", "## Corpus-level reference metrics", "",
                  "BLEU-4 from the pooled n-gram counts, CIDEr-D's corpus mean; 95% bootstrap intervals over samples.",
                  "", "| model | metric | value | 95% CI | n |", "|---|---|---|---|---|"]
        lines += [f"| {f.model} | {f.metric} | {num(f.value, 3)} | {interval(f.ci_low, f.ci_high, 3)} | {f.n} |"
                  for f in corpus]
    if correlations:
        lines += ["", "## Judge against reference metrics", "",
                  "Spearman ρ across captions (model x sample), 95% bootstrap interval over captions.", "",
                  "| judge criterion | metric | n | ρ | 95% CI |", "|---|---|---|---|---|"]
        lines += [f"| {c.judge_criterion} ({c.judge_rubric}) | {c.metric} | {c.n} | {num(c.rho)} | "
                  f"{interval(c.ci_low, c.ci_high)} |" for c in correlations]
    return "\n".join(lines) + "\n" if lines else ""


def pairwise_markdown(summaries) -> str:
    """How each pairwise rubric's judge treated the order of the two completions."""
    if not summaries:
        return ""
    lines = ["", "## Pairwise rubrics", "",
             "Each pair of models on each sample was asked in both orders; only order-consistent verdicts count "
             "as wins. Pairwise rows above: mean and interval are Bradley-Terry log-strengths (mean 0 over the "
             "models; P(i beats j) = 1 / (1 + exp(s_j - s_i))).", "",
             "| rubric | baseline | sample-pairs | position bias | inconsistent | unscored |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {p.rubric} | {p.baseline} | {p.n_pairs} | {num(p.position_bias)} | {num(p.inconsistent)} | "
              f"{p.unscored} |" for p in summaries]
    return "\n".join(lines) + "\n"


def controls_markdown(checks) -> str:
    """The sensitivity verdicts: reference minus each control a criterion must beat, and the flags."""
    if not checks:
        return ""
    from vlmgrade.analysis.controls import flags

    lines = ["", "## Judge controls", "",
             "Reference minus control per criterion, in its better direction (paired t interval, Wilcoxon p).", "",
             "| rubric | criterion | control | n | diff | 95% CI | p | verdict |", "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {md_cell(c.rubric)} | {md_cell(c.criterion)} | {c.control} | {c.n} | {num(c.diff, 3)} | "
              f"{interval(c.ci_low, c.ci_high, 3)} | {pvalue(c.p)} | {'passes' if c.passes else 'FLAGGED'} |"
              for c in checks]
    lines += [""] + [f"- **{flag}**" for flag in flags(checks)]
    return "\n".join(lines) + "\n"


def _win(r: ScoreRow) -> str:
    if not r.pairwise:
        return ""
    if r.win_rate is None:
        return f"(baseline {r.baseline})" if r.model == r.baseline else num(None)
    return f"{num(r.win_rate)} {interval(r.win_ci_low, r.win_ci_high)} vs {r.baseline}"


def _criterion(r: ScoreRow) -> str:
    return r.better.label(r.criterion)


def _cell(r: ScoreRow | None) -> str:
    if r is None:
        return num(None)
    unscored = f", {r.n_unscored} unscored" if r.n_unscored else ""
    return f"{num(r.mean)} {interval(r.ci_low, r.ci_high)} n={r.n}{unscored}"


def print_controls(rows: list[ScoreRow], checks) -> None:
    """Each control's mean per criterion and whether the judge put the reference above the ones it must beat."""
    from rich.console import Console
    from rich.table import Column, Table

    from vlmgrade.analysis.controls import CONTROLS

    means = {(r.rubric, r.criterion, r.model): r.mean for r in rows if r.control}
    verdict: dict[tuple[str, str], bool] = {}
    for c in checks:
        verdict[(c.rubric, c.criterion)] = verdict.get((c.rubric, c.criterion), True) and c.passes
    table = Table(Column("judge controls", no_wrap=True), *(Column(m, justify="right") for m in CONTROLS),
                  Column("discriminates"), title_justify="left")
    for rubric, criterion in dict.fromkeys((r.rubric, r.criterion) for r in rows if r.control):
        table.add_row(f"{criterion} ({rubric})", *(num(means.get((rubric, criterion, m))) for m in CONTROLS),
                      "yes" if verdict.get((rubric, criterion), True) else "NO")
    Console().print(table)


def print_table(rows: list[ScoreRow], title: str = "") -> None:
    """One table per rubric, the models side by side: each cell the mean, its 95% interval and n."""
    from rich.console import Console
    from rich.table import Column, Table

    console = Console()
    if title:
        console.print(title)
    for rubric in dict.fromkeys(r.rubric for r in rows):
        mine = [r for r in rows if r.rubric == rubric]
        models = list(dict.fromkeys(r.model for r in mine))
        title = rubric + (" (pairwise: Bradley-Terry log-strength, mean 0)" if mine[0].pairwise else "")
        table = Table(Column("criterion", no_wrap=True), *(Column(m, justify="right") for m in models),
                      title=title, title_justify="left")
        cells = {(r.criterion, r.model): r for r in mine}
        for criterion in dict.fromkeys(r.criterion for r in mine):
            first = next(r for r in mine if r.criterion == criterion)
            table.add_row(_criterion(first), *(_cell(cells.get((criterion, m))) for m in models))
        console.print(table)


# ---- reading run folders: the only place that does ----

RUN_FILES = ("scores.json", "judgments.jsonl", "report.html")  # what a complete run folder holds


def load_run(path: str | Path) -> Run:
    """A run folder (or its scores.json) as a Run; judgments and captions are read on first use."""
    folder = Path(path)
    if not folder.exists():
        raise UserError(f"run folder not found: {folder}")
    scores_path = folder / "scores.json" if folder.is_dir() else folder
    if not scores_path.exists():
        raise UserError(f"not a run folder: {folder} (no scores.json)")
    scores = read_json(scores_path, "run scores")
    if not isinstance(scores, dict) or not isinstance(scores.get("rows"), list):
        raise UserError(f"{scores_path} is not a vlmgrade scores.json (no 'rows')")
    folder = scores_path.parent
    info_path = folder / "run.json"
    info = read_json(info_path, "run record") if info_path.exists() else {}
    return Run(folder, scores, info if isinstance(info, dict) else {},
               load_judgments=lambda: read_judgments(folder), load_captions=lambda: read_captions_file(folder))


def read_judgments(folder: Path) -> list[Judgment]:
    path = folder / "judgments.jsonl"
    if not path.exists():
        raise UserError(f"{folder} has no judgments.jsonl")
    out = []
    for where, row in jsonl_objects(path, "judgments"):
        try:
            out.append(Judgment.from_dict(row))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise UserError(f"{where}: not a judgment ({type(e).__name__}: {e})") from None
    return out


def read_captions_file(folder: Path) -> list[Caption]:
    path = folder / "captions.jsonl"
    if not path.exists():
        return []
    out = []
    for where, row in jsonl_objects(path, "captions"):
        if not all(isinstance(row.get(k), str) for k in ("id", "model", "text")):
            raise UserError(f"{where}: a caption needs 'id', 'model' and 'text' strings")
        out.append(Caption(row["id"], row["model"], row["text"]))
    return out


def runs_dir() -> Path:
    """Where run folders go without --out: $VLMGRADE_RUNS, else ./reports."""
    import os

    return Path(os.environ.get("VLMGRADE_RUNS") or "reports")


@dataclass(frozen=True)
class RunListing:
    run: str
    created: str
    models: str
    data: str
    judge: str
    status: str  # complete, incomplete (a file missing) or corrupt (run.json unreadable)


def list_runs(base: Path) -> list[RunListing]:
    """One line per run folder under `base` (folders without run.json, and hidden ones being written, are
    skipped)."""
    if not base.is_dir():
        raise UserError(f"no run folders at {base}")
    out = []
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
        record = folder / "run.json"
        if not record.exists():
            continue
        try:
            run = read_json(record, "run record")
        except UserError:
            out.append(RunListing(folder.name, "", "", "", "", "corrupt"))
            continue
        whole = all((folder / f).exists() for f in RUN_FILES)
        data, judge = run.get("data") or {}, run.get("judge") or {}
        out.append(RunListing(folder.name, str(run.get("created", "")), ", ".join(run.get("models", [])),
                              str(data.get("name", "")), str(judge.get("spec", "")),
                              "complete" if whole else "incomplete"))
    return out
