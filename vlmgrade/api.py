"""The Python API: what `vlmgrade run`, `leaderboard` and `compare` do, with pandas DataFrames out.

    import vlmgrade
    run = vlmgrade.evaluate(models=["nanovlm-mini-scenes"], data="scenes-short:test", limit=20,
                            rubrics=["grounded"], judge="grounded")
    run.scores          # one row per model x rubric x criterion: mean, ci_low, ci_high, n, ...
    vlmgrade.load_run(run.folder).scores.equals(run.scores)   # True

Options are the `run` flags in snake case, from the one table in core/options.py (`limit`, `out`,
`repeats`, `judge_base_url`, ...). Models are zoo names, folders or hub ids, or objects with
`caption(samples, params, batch_size) -> [Caption]`, given as `{label: object}` (a dict may mix both:
`{"mine": "path/to/folder", "custom": obj}`); data is a name, a manifest path, or a list of
`vlmgrade.core.types.Sample`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmgrade.core.errors import MostlyUnscored, UserError
from vlmgrade.core.options import checked, run_config
from vlmgrade.core.run import Run
from vlmgrade.core.types import Sample

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MostlyUnscored", "Run", "UserError", "compare", "evaluate", "leaderboard", "load_run"]


def load_run(path: str | Path) -> Run:
    """A run folder (or its scores.json) as a Run."""
    from vlmgrade.report.folder import load_run as read_folder

    return read_folder(path)


def _models(models: Sequence[str] | Mapping[str, Any] | str) -> tuple[list[str], dict[str, Any]]:
    """(names the zoo resolves, {label: captioner object}); a mapping's string values are LABEL=SOURCE."""
    if isinstance(models, (str, Path)):
        return [str(models)], {}
    if not isinstance(models, (Mapping, Sequence)):
        raise UserError(f"models must be a name, a list of names, or a dict of labels, not {models!r}")
    if isinstance(models, Mapping):
        from vlmgrade.pipeline.captioning import check_label

        for label in models:  # the same door as --model LABEL=SOURCE: every table and report shows the label
            if not isinstance(label, str):
                raise UserError(f"models: a label must be text, not {type(label).__name__} {label!r}")
            check_label(label, "models")
        named = [f"{label}={value}" for label, value in models.items() if isinstance(value, (str, Path))]
        objects = {label: value for label, value in models.items() if not isinstance(value, (str, Path))}
        for label, value in objects.items():
            if not callable(getattr(value, "caption", None)):
                raise UserError(f"model {label!r}: give a zoo name, a folder, or an object with a caption() method")
        return named, objects
    return [str(m) for m in models], {}


def evaluate(models: Sequence[str] | Mapping[str, Any] | str = (), data: str | Sequence[Sample] = "scenes-short:test",
             rubrics: Sequence[str] | str = (), judge: str | None = None, **options: Any) -> Run:
    """Caption, judge and score, as `vlmgrade run`; writes the run folder and returns its results. Any
    `run` flag is a keyword here (snake case); bad values raise UserError, unknown keywords TypeError;
    a run whose judgments are mostly unscored raises MostlyUnscored (with `.run`) unless allow_unscored."""
    from vlmgrade.pipeline.runner import evaluate as run_evaluate

    named, objects = _models(models)
    if not isinstance(data, str) and not (isinstance(data, Sequence) and all(isinstance(s, Sample) for s in data)):
        raise UserError(f"data must be a name, a manifest path, or a list of Sample, not {type(data).__name__}")
    given = {**options, "models": named, "rubrics": [rubrics] if isinstance(rubrics, str) else list(rubrics),
             "judge": judge, "data": data if isinstance(data, str) else "in-memory"}
    cfg = run_config(checked(given))
    result = run_evaluate(cfg, None if isinstance(data, str) else list(data), objects)
    if result is None:  # a torchrun rank other than 0
        return Run(Path("-"), {"rows": []})
    if result.stats is None:  # a dry run: what it would send and cost
        return Run.in_memory(Path("-"), {"rows": []}, {"estimate": result.estimate.to_dict()}, [], result.captions)
    run = Run.in_memory(result.out, result.scores, result.record, result.judgments, result.captions)
    problem = result.mostly_unscored()
    if problem and not cfg.output.allow_unscored:
        raise MostlyUnscored(problem, run)
    return run


def _as_run(run: Run | str | Path) -> Run:
    return run if isinstance(run, Run) else load_run(run)


def _runs(runs: Sequence[Run | str | Path] | Run | str | Path) -> list[Run]:
    """One run or several: a single path is one run, not a sequence of characters."""
    return [_as_run(runs)] if isinstance(runs, (Run, str, Path)) else [_as_run(r) for r in runs]


def leaderboard(runs: Sequence[Run | str | Path] | Run | str | Path, allow_mixed: bool = False) -> pd.DataFrame:
    """The runs' score rows with `run` and `rank` columns (ties where intervals overlap), as `vlmgrade
    leaderboard`."""
    import pandas as pd

    from vlmgrade.analysis.comparison import leaderboard as board

    result = board(_runs(runs), allow_mixed=allow_mixed)
    frame = pd.DataFrame(result["rows"])
    for whole in ("rank", "paired_n"):  # whole numbers, missing where a row is not ranked
        if whole in frame:
            frame[whole] = frame[whole].astype("Int64")
    frame.attrs["mixed"] = result["mixed"]  # what makes the runs incomparable, when allow_mixed let them through
    return frame


def compare(run_a: Run | str | Path, run_b: Run | str | Path | None = None, model_a: str | None = None,
            model_b: str | None = None, allow_mixed: bool = False) -> pd.DataFrame:
    """The paired comparison per criterion (diff = a - b), as `vlmgrade compare`."""
    import pandas as pd

    from vlmgrade.analysis.comparison import compare as paired

    a = _as_run(run_a)
    b = a if run_b is None else _as_run(run_b)
    result = paired(a, b, model_a, model_b, allow_mixed=allow_mixed)
    frame = pd.DataFrame(result["rows"])
    frame.attrs.update(run_a=result["run_a"], run_b=result["run_b"])
    return frame
