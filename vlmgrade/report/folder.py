"""Run folders: the one module that writes them (captions.jsonl, judgments.jsonl, scores.json, run.json, report.md,
report.html, plots/) and reads them back (`load_run`, `list_runs`)."""

from __future__ import annotations

import json
import math
import platform
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from vlmgrade.core.errors import UserError
from vlmgrade.core.files import jsonl_objects, read_json
from vlmgrade.core.fmt import json_text
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
    with path.open("w", encoding="utf-8", errors="replace") as f:
        for row in rows:
            f.write(json_text(row) + "\n")


def _write_text(path: Path, text: str) -> None:
    """UTF-8 whatever the text holds: a lone surrogate (from a judge's reply, a rubric) becomes '?' instead of
    failing the write after the run was paid for."""
    path.write_text(text, encoding="utf-8", errors="replace")


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
    """Write the run folder whole or not at all (report/swap.py): a kill mid-write leaves the old folder (or
    the new one) whole, never a mix that a leaderboard would read; one between its renames leaves the new
    folder staged, and the next write or `vlmgrade runs` puts it in place."""
    import shutil

    from vlmgrade.report.swap import swap_in

    def fill(staging: Path) -> dict:
        if (out / "batches.json").exists():  # written while the batches ran; part of this run
            shutil.copyfile(out / "batches.json", staging / "batches.json")
        return _write_files(staging, run, rubrics, samples, captions, judgments, summary)

    return swap_in(out, fill)


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
    _write_text(out / "scores.json", json_text(scores, indent=2) + "\n")
    _write_text(out / "run.json", json_text(run, indent=2) + "\n")
    verdicts = run_verdicts(summary, judgments)  # what both reports open with, and the figures' right panel
    figures = criterion_figures(summary.shown_rows(), verdicts)
    write_figures(out, figures)
    _write_text(out / "report.md", report(run, summary, judgments, rubrics, samples, captions, verdicts, figures))
    _write_text(out / "report.html", render_html(run, summary, judgments, rubrics, samples, captions, verdicts,
                                                 figures))
    return scores


def write_batches(out: Path, batches: list[dict]) -> None:
    """batches.json, written as soon as a run's Batch API jobs are submitted (before any wait): a killed run
    is resumed in the same folder, and the finished folder keeps the record."""
    out.mkdir(parents=True, exist_ok=True)
    _write_text(out / "batches.json", json_text(batches, indent=2) + "\n")


def previous_config(out: Path) -> dict | None:
    """The config a run folder's run.json records, or None when there is none to read."""
    try:  # through read_json: a FIFO or device in run.json's place is never opened
        config = read_json(out / "run.json", "run record")["config"]
    except (UserError, KeyError, TypeError):
        return None
    return config if isinstance(config, dict) else None


# ---- reading run folders: the only place that does ----

RUN_FILES = ("scores.json", "judgments.jsonl", "report.html")  # what a complete run folder holds


def load_run(path: str | Path, eager: bool = False) -> Run:
    """A run folder (or its scores.json) as a Run; judgments and captions are read on first use, or with
    `eager` the judgments now, when the folder has them (so that a damaged line is said, in one line naming
    it, by a reader that would otherwise fall back to scores.json alone)."""
    folder = Path(path)
    if not folder.exists():
        raise UserError(f"run folder not found: {folder}")
    scores_path = folder / "scores.json" if folder.is_dir() else folder
    if not scores_path.exists():
        raise UserError(f"not a run folder: {folder} (no scores.json)")
    scores = read_json(scores_path, "run scores", finite=True)
    if not isinstance(scores, dict) or not isinstance(scores.get("rows"), list):
        raise UserError(f"{scores_path} is not a vlmgrade scores.json (no 'rows')")
    for i, row in enumerate(scores["rows"]):
        _check_row(row, f"{scores_path}: row {i + 1}")
    folder = scores_path.parent
    info_path = folder / "run.json"
    info = read_json(info_path, "run record") if info_path.exists() else {}
    run = Run(folder, scores, info if isinstance(info, dict) else {},
              load_judgments=lambda: read_judgments(folder), load_captions=lambda: read_captions_file(folder))
    if eager and (folder / "judgments.jsonl").exists():
        _ = run.judgment_records
    return run


ROW_TEXT = ("model", "rubric", "criterion")
ROW_FIGURES = ("mean", "ci_low", "ci_high", "win_rate", "win_ci_low", "win_ci_high")  # finite numbers or null
ROW_COUNTS = ("n", "n_unscored", "n_judgments", "paired_n", "rank")  # whole numbers from 0, or null


def _check_row(row: object, where: str) -> None:
    """A score row as vlmgrade writes it: names are text, figures finite numbers or null, counts whole
    numbers (a tampered or damaged file would otherwise be ranked, NaN first, or fail halfway through)."""
    if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ROW_TEXT):
        raise UserError(f"{where}: needs 'model', 'rubric' and 'criterion' as text")
    for key in ROW_FIGURES:
        if row.get(key) is not None and not _number(row[key]):
            raise UserError(f"{where}: {key} must be a finite number or null, not {row[key]!r}")
    for key in ROW_COUNTS:
        value = row.get(key, 0)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise UserError(f"{where}: {key} must be a whole number, not {value!r}")
    for key in ("ci_method", "better", "baseline"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise UserError(f"{where}: {key} must be text, not {row[key]!r}")
    if row.get("win_rate") is not None and not isinstance(row.get("baseline"), str):
        raise UserError(f"{where}: a win rate needs the 'baseline' it is against")
    scale = row.get("scale")
    if scale is not None and not (isinstance(scale, list) and len(scale) == 2 and all(map(_number, scale))
                                  and scale[0] < scale[1]):
        raise UserError(f"{where}: scale must be [low, high], finite numbers with low < high, not {scale!r}")


def _number(value: object) -> bool:
    """A finite int or float (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def read_judgments(folder: Path) -> list[Judgment]:
    path = folder / "judgments.jsonl"
    if not path.exists():
        raise UserError(f"{folder} has no judgments.jsonl")
    return [judgment_of(row, where) for where, row in jsonl_objects(path, "judgments", finite=True)]


def judgment_of(row: dict, where: str) -> Judgment:
    """One judgments.jsonl line as a Judgment, each field checked (a damaged or hand-edited line is one line
    naming the file and line number, not a failure deep inside a comparison)."""
    problem = _judgment_problem(row)
    if problem is None:
        try:
            return Judgment.from_dict(row)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            problem = f"{type(e).__name__}: {e}"
    raise UserError(f"{where}: not a judgment: {problem}")


def _judgment_problem(row: dict) -> str | None:
    """What is wrong with a judgments.jsonl line, or None."""
    for key in ("sample_id", "model", "rubric"):
        if not isinstance(row.get(key), str):
            return f"'{key}' must be text, not {row.get(key)!r}"
    for key in ("scores", "plain_scores"):
        scores = row.get(key, None if key == "plain_scores" else "missing")
        if scores is not None and not (isinstance(scores, dict) and all(v is None or _number(v)
                                                                          for v in scores.values())):
            return f"'{key}' must map each criterion to a finite number or null"
    repeat = row.get("repeat", 0)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 0:
        return f"'repeat' must be a whole number, not {repeat!r}"
    if not isinstance(row.get("raw", ""), str) or not isinstance(row.get("unscored_reason") or "", str):
        return "'raw' and 'unscored_reason' must be text"
    if not isinstance(row.get("usage") or {}, dict) or not isinstance(row.get("details") or {}, dict):
        return "'usage' and 'details' must be objects"
    for key, size in (("pair", 2), ("weighted", None)):
        value = row.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)
                                      and size in (None, len(value))):
            return f"'{key}' must be a list of " + (f"{size} names" if size else "names")
    return None


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
    """One line per run folder under `base`: every folder holding a run.json or a scores.json. Staging folders
    (hidden: `.NAME.writing-PID` and the like) are never listed; one a killed write left behind is first put
    back in place (`recover`), so the run it holds is listed under its own name."""
    from vlmgrade.report.swap import recover_all

    if not base.is_dir():
        raise UserError(f"no run folders at {base}")
    recover_all(base)
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
