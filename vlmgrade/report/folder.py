"""Run folders: the one module that writes them (captions.jsonl, judgments.jsonl, scores.json, run.json, report.md,
report.html, plots/) and reads them back (`load_run`, `list_runs`)."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from vlmgrade.core.errors import UserError
from vlmgrade.core.files import jsonl_objects, read_json
from vlmgrade.core.run import Run
from vlmgrade.core.types import Caption, Judgment, Sample

if TYPE_CHECKING:
    from vlmgrade.core.options import RunConfig
    from vlmgrade.judges import JudgeSpec
    from vlmgrade.pipeline.summary import Summary
    from vlmgrade.rubrics import Rubric


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("vlmgrade", "torch", "transformers", "openai", "numpy", "scipy", "jinja2"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def _jsonl(path: Path, rows: Iterable[dict]) -> None:
    with path.open("w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def new_run_id() -> str:
    """Unique to the millisecond plus a random suffix: two runs started together never share a folder."""
    import secrets

    now = datetime.now(timezone.utc)  # noqa: UP017 - keeps 3.10 working
    return f"{now.strftime('%Y%m%d-%H%M%S')}-{now.microsecond // 1000:03d}-{secrets.token_hex(3)}"


def run_record(run_id: str, cfg: RunConfig, spec: JudgeSpec, judge_label: str, rubrics: Sequence[Rubric],
               models: list[str], n_samples: int, data: dict, stats: dict) -> dict:
    """run.json: the full config, data name and version, versions, rubric hashes, judge, seed, timings,
    usage and cost."""
    asked = judge_label == spec.label and spec.model is not None  # an LLM judged (else offline scorers did)
    config = json.loads(json.dumps(asdict(cfg)))  # as run.json holds it (lists, not tuples), in memory too
    config["output"] = {k: v for k, v in config["output"].items() if k != "progress"}
    return {
        "run": run_id, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "config": config, "data": data,
        "models": models,
        "judge": {"spec": judge_label, "model": spec.model if asked else None,
                  "endpoint": spec.public_endpoint if asked else None},
        "rubrics": {r.name: {"version": r.version, "hash": r.hash, "path": r.path} for r in rubrics},
        "n_samples": n_samples, "seed": cfg.seed, "versions": _versions(), **stats,
    }


def write_run(out: Path, run: dict, rubrics: Sequence[Rubric], samples: Sequence[Sample], captions: Sequence[Caption],
              judgments: Sequence[Judgment], summary: Summary) -> dict:
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
        scores = _write_files(staging, run, rubrics, samples, captions, judgments, summary)
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
    return scores


def _write_files(out: Path, run: dict, rubrics: Sequence[Rubric], samples: Sequence[Sample],
                 captions: Sequence[Caption], judgments: Sequence[Judgment], summary: Summary) -> dict:
    """Format what the run computed (`summary`); nothing here computes a score or reads a file back."""
    from vlmgrade.report.html import render_html
    from vlmgrade.report.markdown import report
    from vlmgrade.report.plots import criterion_figures, write_figures
    from vlmgrade.report.tables import run_verdicts

    rows, checks = summary.rows, summary.checks
    _jsonl(out / "captions.jsonl", ({"id": c.sample_id, "model": c.model, "text": c.text} for c in captions))
    _jsonl(out / "judgments.jsonl", (j.to_dict() for j in judgments))
    scores = {"run": run["run"], "judge": run["judge"]["spec"], "judge_endpoint": run["judge"]["endpoint"],
              "data": run["data"], "weighted": run["weighted"],
              "rows": [r.to_dict() for r in rows],
              "rubrics": {r.name: {"version": r.version, "hash": r.hash} for r in rubrics}}
    if checks:
        from vlmgrade.analysis.controls import flags

        scores["controls"] = {"checks": [c.to_dict() for c in checks], "flags": flags(checks),
                              "models": [c.to_dict() for c in summary.model_checks]}
    if summary.pairwise:
        scores["pairwise"] = {p.rubric: p.to_dict() for p in summary.pairwise}
    if summary.corpus:
        scores["corpus"] = [f.to_dict() for f in summary.corpus]
    if summary.judge_vs_metrics:
        scores["judge_vs_metrics"] = [c.to_dict() for c in summary.judge_vs_metrics]
    (out / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    (out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    verdicts = run_verdicts(summary, judgments)  # what both reports open with, and the figures' right panel
    figures = criterion_figures(summary.shown_rows(), verdicts)
    write_figures(out, figures)
    (out / "report.md").write_text(report(run, summary, judgments, rubrics, samples, captions, verdicts, figures))
    (out / "report.html").write_text(render_html(run, summary, judgments, rubrics, samples, captions, verdicts,
                                                 figures))
    return scores


def write_batches(out: Path, batches: list[dict]) -> None:
    """batches.json, written as soon as a run's Batch API jobs are submitted (before any wait): a killed run
    is resumed in the same folder, and the finished folder keeps the record."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "batches.json").write_text(json.dumps(batches, indent=2) + "\n")


def previous_config(out: Path) -> dict | None:
    """The config a run folder's run.json records, or None when there is none to read."""
    try:
        config = json.loads((out / "run.json").read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return config if isinstance(config, dict) else None


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
    for i, row in enumerate(scores["rows"]):
        _check_row(row, f"{scores_path}: row {i + 1}")
    folder = scores_path.parent
    info_path = folder / "run.json"
    info = read_json(info_path, "run record") if info_path.exists() else {}
    return Run(folder, scores, info if isinstance(info, dict) else {},
               load_judgments=lambda: read_judgments(folder), load_captions=lambda: read_captions_file(folder))


def _check_row(row: object, where: str) -> None:
    """A score row as vlmgrade writes it: names are text, figures finite numbers or null (a tampered or
    damaged file would otherwise be ranked, NaN first)."""
    import math

    if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("model", "rubric", "criterion")):
        raise UserError(f"{where}: needs 'model', 'rubric' and 'criterion' as text")
    for key in ("mean", "ci_low", "ci_high"):
        value = row.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise UserError(f"{where}: {key} must be a finite number or null, not {value!r}")
    if not isinstance(row.get("n", 0), int) or isinstance(row.get("n"), bool):
        raise UserError(f"{where}: n must be a whole number")


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
    """One line per run folder under `base`: every folder holding a run.json or a scores.json (hidden ones, being
    written, are skipped)."""
    if not base.is_dir():
        raise UserError(f"no run folders at {base}")
    folders = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [_listing(f) for f in folders if (f / "run.json").exists() or (f / "scores.json").exists()]


def _listing(folder: Path) -> RunListing:
    try:
        run = read_json(folder / "run.json", "run record") if (folder / "run.json").exists() else {}
        if not isinstance(run, dict):
            raise UserError(f"{folder / 'run.json'} is not a run record")
        if (folder / "scores.json").exists():
            load_run(folder)  # a truncated or tampered scores.json is no complete run
    except UserError:
        return RunListing(folder.name, "", "", "", "", "corrupt")
    whole = bool(run) and all((folder / f).exists() for f in RUN_FILES)
    data, judge = run.get("data") or {}, run.get("judge") or {}
    return RunListing(folder.name, str(run.get("created", "")), ", ".join(map(str, run.get("models", []))),
                      str(data.get("name", "")), str(judge.get("spec", "")), "complete" if whole else "incomplete")
