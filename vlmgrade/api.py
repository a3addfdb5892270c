"""The Python API: what `vlmgrade run`, `leaderboard` and `compare` do, with pandas DataFrames out.

    import vlmgrade
    run = vlmgrade.evaluate(models=["nanovlm-mini-scenes"], data="scenes-short:test", limit=20,
                            rubrics=["grounded"], judge="grounded")
    run.scores          # one row per model x rubric x criterion: mean, ci_low, ci_high, n, ...
    vlmgrade.load_run(run.folder).scores.equals(run.scores)   # True

Options are the CLI's flags in snake case (`limit`, `out`, `repeats`, `judge_base_url`, ...). Models
are zoo names, folders or hub ids, or objects with `caption(samples, params, batch_size) -> [Caption]`
given as `{label: object}`; data is a name, a manifest path, or a list of `vlmgrade.core.types.Sample`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import pandas as pd

from vlmgrade.core.options import BudgetOptions, EngineOptions, JudgingOptions, OutputOptions, RunConfig
from vlmgrade.core.types import Caption, GenerationParams, Judgment, Sample, ScoreRow

SCORE_COLUMNS = [f.name for f in fields(ScoreRow)]
JUDGMENT_COLUMNS = ["sample_id", "model", "rubric", "repeat", "criterion", "score", "unscored_reason"]
CAPTION_COLUMNS = ["sample_id", "model", "text"]


def scores_frame(rows: Sequence[ScoreRow]) -> pd.DataFrame:
    """Tidy: one row per model x rubric x criterion, every ScoreRow field a column."""
    return pd.DataFrame([[getattr(r, c) for c in SCORE_COLUMNS] for r in rows], columns=SCORE_COLUMNS)


def judgments_frame(judgments: Sequence[Judgment]) -> pd.DataFrame:
    """Tidy: one row per judgment and criterion (`score` None where unscored)."""
    return pd.DataFrame([[j.sample_id, j.model, j.rubric, j.repeat, c, v, j.unscored_reason]
                         for j in judgments for c, v in j.scores.items()], columns=JUDGMENT_COLUMNS)


def captions_frame(captions: Sequence[Caption]) -> pd.DataFrame:
    return pd.DataFrame([[c.sample_id, c.model, c.text] for c in captions], columns=CAPTION_COLUMNS)


@dataclass
class Run:
    """A run folder's results as DataFrames; `record` is its scores.json, `info` its run.json."""

    folder: Path
    scores: pd.DataFrame
    judgments: pd.DataFrame
    captions: pd.DataFrame
    record: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)


def load_run(path: str | Path) -> Run:
    """A run folder (or its scores.json) as a Run."""
    from vlmgrade.analysis.comparison import load_run as load_folder
    from vlmgrade.core.files import jsonl_objects, read_json

    run = load_folder(path)
    captions = [Caption(row["id"], row["model"], row["text"])
                for _, row in jsonl_objects(run.folder / "captions.jsonl", "captions")]
    info = read_json(run.folder / "run.json", "run record") if (run.folder / "run.json").exists() else {}
    return Run(run.folder, scores_frame([ScoreRow.from_dict(r) for r in run.scores["rows"]]),
               judgments_frame(run.judgments), captions_frame(captions), run.scores, info)


_JUDGING = {"judge_base_url": "base_url", "concurrency": "concurrency", "repeats": "repeats",
            "judge_temperature": "temperature", "judge_image": "image", "judge_logprobs": "logprobs", "rpm": "rpm",
            "tpm": "tpm", "batch": "batch", "batch_poll_s": "batch_poll_s", "baseline": "baseline",
            "train_data": "train_data", "judge_timeout": "timeout", "deadline": "deadline"}
_ENGINE = {"batch_size": "batch_size", "device": "device", "dtype": "dtype", "allow_pickle": "allow_pickle"}
_GENERATION = {"max_new_tokens": "max_new_tokens", "temperature": "temperature", "top_k": "top_k", "top_p": "top_p"}
_BUDGET = {"max_cost": "max_cost", "price_table": "price_table", "dry_run": "dry_run"}
_OUTPUT = {"out": "out", "ci": "ci", "cache": "cache", "progress": "progress"}
_TOP = {"limit", "seed", "controls", "controls_limit", "captions"}


def evaluate(models: Sequence[str] | dict | str = (), data: str | Sequence[Sample] = "scenes-short:test",
             rubrics: Sequence[str] | str = (), judge: str | None = None, **options) -> Run:
    """Caption, judge and score, as `vlmgrade run`; writes the run folder and returns its results."""
    from vlmgrade.pipeline.runner import evaluate as run_evaluate

    known = set(_JUDGING) | set(_ENGINE) | set(_GENERATION) | set(_BUDGET) | set(_OUTPUT) | _TOP
    unknown = sorted(set(options) - known)
    if unknown:
        raise TypeError(f"evaluate() got unknown options {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    named = [models] if isinstance(models, str) else [] if isinstance(models, dict) else list(models)
    objects = dict(models) if isinstance(models, dict) else {}
    pick = lambda table: {table[k]: v for k, v in options.items() if k in table}  # noqa: E731
    cfg = RunConfig(models=tuple(named), data=data if isinstance(data, str) else "in-memory",
                    captions=tuple(options.get("captions", ())),
                    rubrics=(rubrics,) if isinstance(rubrics, str) else tuple(rubrics), limit=options.get("limit"),
                    seed=options.get("seed", 0),
                    controls=bool(options.get("controls") or options.get("controls_limit")),
                    controls_limit=options.get("controls_limit"),
                    generation=replace(GenerationParams(), **pick(_GENERATION), seed=options.get("seed", 0)),
                    engine=replace(EngineOptions(), **pick(_ENGINE)),
                    judging=replace(JudgingOptions(), judge=judge, **pick(_JUDGING)),
                    budget=replace(BudgetOptions(), **pick(_BUDGET)),
                    output=replace(OutputOptions(), **{"progress": False, **pick(_OUTPUT)}))
    result = run_evaluate(cfg, None if isinstance(data, str) else list(data), objects)
    if result is None or cfg.budget.dry_run:
        return Run(Path("-"), scores_frame([]), judgments_frame([]), captions_frame(result.captions if result else []),
                   info={"estimate": result.stats.get("estimate")} if result else {})
    record = {"rows": [r.to_dict() for r in result.rows]}
    return Run(result.out, scores_frame(result.rows), judgments_frame(result.judgments),
               captions_frame(result.captions), record)


def leaderboard(runs: Sequence[Run | str | Path], allow_mixed: bool = False) -> pd.DataFrame:
    """The runs' score rows with `run` and `rank` columns (ties where intervals overlap), as `vlmgrade
    leaderboard`."""
    from vlmgrade.analysis.comparison import leaderboard as board
    from vlmgrade.analysis.comparison import load_run as load_folder

    result = board([load_folder(r.folder if isinstance(r, Run) else r) for r in runs], allow_mixed=allow_mixed)
    frame = pd.DataFrame(result["rows"])
    if "rank" in frame:
        frame["rank"] = frame["rank"].astype("Int64")  # whole ranks, missing where a model has no mean
    frame.attrs["mixed"] = result["mixed"]  # what makes the runs incomparable, when allow_mixed let them through
    return frame


def compare(run_a: Run | str | Path, run_b: Run | str | Path | None = None, model_a: str | None = None,
            model_b: str | None = None, allow_mixed: bool = False) -> pd.DataFrame:
    """The paired comparison per criterion (diff = a - b), as `vlmgrade compare`."""
    from vlmgrade.analysis.comparison import compare as paired
    from vlmgrade.analysis.comparison import load_run as load_folder

    a = load_folder(run_a.folder if isinstance(run_a, Run) else run_a)
    b = a if run_b is None else load_folder(run_b.folder if isinstance(run_b, Run) else run_b)
    result = paired(a, b, model_a, model_b, allow_mixed=allow_mixed)
    frame = pd.DataFrame(result["rows"])
    frame.attrs.update(run_a=result["run_a"], run_b=result["run_b"])
    return frame
