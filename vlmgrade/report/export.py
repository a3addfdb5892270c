"""`vlmgrade export RUN... --out DIR`: what a paper takes from run folders, as files.

- table.tex: a booktabs tabular, models x criteria, each cell the mean with its 95% interval; a criterion's best
  mean is bold only where it is separated from the runner-up's (paired over shared samples, Holm p < 0.05: the
  verdicts every report opens with);
- samples.csv and samples.jsonl: one row per sample x model (judge controls and baselines left out): the
  sample's beginning and references, what the model wrote, and every criterion's score (repeats averaged) with
  its unscored reason;
- scores.csv: the tidy score rows (as scores.json holds them, `control` rows marked).

Run folders are read only through report/folder.py's `load_run`. The beginnings and references are not in a
run folder: they come from the run's data (`run.json`'s name), used only when its version still matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vlmgrade.core.errors import UserError
from vlmgrade.core.fmt import json_text, num
from vlmgrade.report.tables import Contestant, Verdict, csv_text, latex_escape, latex_table

if TYPE_CHECKING:
    import pandas as pd

    from vlmgrade.core.run import Run

FILES = ("table.tex", "samples.csv", "samples.jsonl", "scores.csv")


@dataclass(frozen=True)
class Exported:
    """What `export` wrote: the files, the per-sample row count, and notes for the user (data not found)."""

    files: tuple[Path, ...]
    sample_rows: int
    notes: tuple[str, ...] = ()


def export(paths: Sequence[str | Path], out: str | Path, allow_mixed: bool = False) -> Exported:
    """Write FILES into `out` for the run folders at `paths`; a bad folder or an unwritable `out` is a
    UserError (one line)."""
    from vlmgrade.analysis.comparison import mixed, run_labels
    from vlmgrade.core.files import output_folder
    from vlmgrade.report.folder import load_run
    from vlmgrade.report.tables import contestants, verdicts

    folder = output_folder(Path(out), "--out")
    runs = [load_run(p) for p in paths]
    differences = mixed(runs)
    if differences and not allow_mixed:
        raise UserError(f"refusing to export runs that are not comparable into one table: {'; '.join(differences)} "
                        "(--allow-mixed to export anyway)")
    labels = run_labels(runs) if len(runs) > 1 else [""]
    entrants = [c for run, label in zip(runs, labels) for c in contestants(run.rows, run.judgment_records, label)]
    table = latex_results(entrants, verdicts(entrants), [run.name for run in runs])
    notes: list[str] = []
    samples = _samples_frame(runs, labels, notes)
    scores = _scores_frame(runs, labels)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        texts = {"table.tex": table + "\n", "samples.csv": csv_text(samples) + "\n",
                 "samples.jsonl": "".join(json_text(r) + "\n" for r in _records(samples)),
                 "scores.csv": csv_text(scores) + "\n"}
        for name, text in texts.items():  # a lone surrogate (a judge's reply may hold one) is written as '?'
            (folder / name).write_text(text, encoding="utf-8", errors="replace")
    except OSError as e:
        raise UserError(f"cannot write --out {folder}: {e.strerror or e}") from None
    return Exported(tuple(folder / f for f in FILES), len(samples), tuple(notes))


# ---- table.tex ----

def latex_results(entrants: Sequence[Contestant], found: Sequence[Verdict], runs: Sequence[str] = ()) -> str:
    """Contestants as rows, criteria as columns: `mean [lo, hi]`, the best bold where separated from the
    runner-up. Names are escaped; a criterion whose name two rubrics share says its rubric."""
    names = [v.criterion for v in found]
    header = ["model"] + [latex_escape(f"{v.criterion} ({v.rubric})" if names.count(v.criterion) > 1 else v.criterion)
                          + (r" $\downarrow$" if v.better.sign < 0 else "") for v in found]
    cells = {(c.label, v.rubric, v.criterion): _cell(c, v) for c in entrants for v in found}
    body = [[latex_escape(c.label)] + [cells[(c.label, v.rubric, v.criterion)] for v in found] for c in entrants]
    comments = [f"vlmgrade export of {', '.join(runs)}" if runs else "vlmgrade export",
                r"mean [95% interval]; $\downarrow$: lower is better; bold: the best mean, separated from the "
                "runner-up (paired over shared samples, Wilcoxon signed-rank, Holm p < 0.05); -- not scored"]
    return latex_table(header, body, comments)


def _cell(c: Contestant, v: Verdict) -> str:
    row = next((r for r in c.rows if r["model"] == c.model and (r["rubric"], r["criterion"]) == (v.rubric, v.criterion)
                and not r.get("control")), None)
    if row is None or row.get("mean") is None:
        return "--"
    mean = num(row["mean"])
    runner_up = v.runner_up
    if v.best == c.label and runner_up is not None and runner_up.separated:
        mean = rf"\textbf{{{mean}}}"
    if row.get("ci_low") is None or row.get("ci_high") is None:
        return mean
    return rf"{mean} {{\scriptsize [{num(row['ci_low'])}, {num(row['ci_high'])}]}}"


# ---- samples.csv / samples.jsonl and scores.csv ----

def _samples_frame(runs: Sequence[Run], labels: Sequence[str], notes: list[str]) -> pd.DataFrame:
    """One row per sample x model of every run: beginning, references, text, and per criterion the score
    (repeats averaged) and why it is unscored."""
    import pandas as pd

    rows: list[dict] = []
    for run, label in zip(runs, labels):
        rows += _sample_rows(run, label, notes)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=["run", "sample_id", "prefix", "references", "model", "text"])
    return frame


def _sample_rows(run: Run, label: str, notes: list[str]) -> list[dict]:
    from vlmgrade.report.tables import contestants

    models = [c.model for c in contestants(run.rows, ())]
    texts = {(c.sample_id, c.model): c.text for c in run.caption_records if c.model in models}
    scores = _scores_by_caption(run, set(models))
    keys = list(dict.fromkeys([*texts, *scores]))
    order = {m: i for i, m in enumerate(models)}
    first = {sample: i for i, sample in enumerate(dict.fromkeys(k[0] for k in keys))}
    keys.sort(key=lambda k: (first[k[0]], order[k[1]]))  # samples in the captions' order, the models side by side
    given = _sample_texts(run, {k[0] for k in keys}, notes)
    out = []
    for sample_id, model in keys:
        prefix, references = given.get(sample_id, (None, None))
        out.append({"run": label or run.name, "sample_id": sample_id, "prefix": prefix, "references": references,
                    "model": model, "text": texts.get((sample_id, model)), **scores.get((sample_id, model), {})})
    return out


def _scores_by_caption(run: Run, models: set[str]) -> dict[tuple[str, str], dict]:
    """{(sample, model): {"rubric/criterion": mean over scored repeats or None, "rubric/criterion unscored":
    the reason when none scored}} from the run's tidy judgments (pairwise lines are no model's)."""
    frame = run.judgments
    frame = frame[frame["model"].isin(models)]
    values: dict[tuple[str, str], dict[str, list]] = {}
    reasons: dict[tuple[str, str], dict[str, str]] = {}
    for r in frame.itertuples(index=False):
        column = f"{r.rubric}/{r.criterion}"
        mine = values.setdefault((r.sample_id, r.model), {}).setdefault(column, [])
        if r.score is not None and r.score == r.score:  # NaN is not a score
            mine.append(float(r.score))
        elif isinstance(r.unscored_reason, str):
            reasons.setdefault((r.sample_id, r.model), {}).setdefault(column, r.unscored_reason)
    out = {}
    for key, columns in values.items():
        row: dict = {}
        for column, scored in columns.items():
            row[column] = sum(scored) / len(scored) if scored else None
            row[f"{column} unscored"] = None if scored else reasons.get(key, {}).get(column)
        out[key] = row
    return out


def _sample_texts(run: Run, ids: set[str], notes: list[str]) -> dict[str, tuple[str, list[str]]]:
    """{sample id: (beginning, references)} from the run's data, when it can still be read and its version is
    the run's (other data would give other references); else {} and a note saying why."""
    from vlmgrade.data.datasets import describe, load_samples

    data = run.record.get("data") or run.info.get("data") or {}
    name, version = data.get("name"), data.get("version")
    if not name or name == "in-memory":
        notes.append(f"{run.name}: its data is not on disk; prefix and references are left empty")
        return {}
    try:
        if describe(name).get("version") != version:
            notes.append(f"{run.name}: data {name} has changed since the run ({version}); prefix and references "
                         "are left empty")
            return {}
        samples = load_samples(name, run.info.get("n_samples") or None)
    except UserError as e:
        notes.append(f"{run.name}: cannot read its data ({e}); prefix and references are left empty")
        return {}
    return {s.id: (s.prefix, list(s.references)) for s in samples if s.id in ids}


def _scores_frame(runs: Sequence[Run], labels: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    frames = [run.scores.assign(run=label or run.name) for run, label in zip(runs, labels)]
    frame = pd.concat(frames, ignore_index=True)
    return frame[["run", *[c for c in frame.columns if c != "run"]]]


def _records(frame: pd.DataFrame) -> list[dict]:
    from vlmgrade.report.tables import records

    return records(frame)
