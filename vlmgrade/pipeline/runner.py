"""`evaluate(RunConfig)`: wires the stages (data, captions, rubric+judge, summary, run folder) and owns the
cache. Every caption and judgment is looked up in the cache first and committed to it as soon as it
exists, so an interrupted run resumes without paying twice. Everything the report shows is computed
here, in memory, before the writer writes it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from vlmgrade.core.errors import UserError
from vlmgrade.core.files import output_folder
from vlmgrade.core.options import RunConfig
from vlmgrade.core.types import Caption, Judgment, Sample
from vlmgrade.judges import JudgeSpec, judge_kind, parse_judge
from vlmgrade.judges.llm.openai import build_messages
from vlmgrade.judges.protocol import ScoringContext
from vlmgrade.pipeline.cache import Cache
from vlmgrade.pipeline.ledger import RunStats, Timings
from vlmgrade.pipeline.plan import Estimate
from vlmgrade.pipeline.summary import Summary, summarise
from vlmgrade.report.folder import runs_dir
from vlmgrade.rubrics import Rubric, load_rubric


@dataclass(frozen=True)
class RunResult:
    out: Path
    judge: str
    captions: list[Caption]
    judgments: list[Judgment]
    estimate: Estimate
    stats: RunStats | None = None  # None for a dry run
    summary: Summary = field(default_factory=Summary)
    record: dict = field(default_factory=dict)  # run.json
    scores: dict = field(default_factory=dict)  # scores.json

    @property
    def rows(self) -> list:
        return self.summary.rows

    def mostly_unscored(self) -> str | None:
        """Why the run is not to be trusted when more than half its judgments are unscored, else None."""
        unscored = [j for j in self.judgments if j.unscored_reason]
        if not self.judgments or 2 * len(unscored) <= len(self.judgments):
            return None
        common = Counter(j.unscored_reason for j in unscored).most_common(1)[0][0]
        return (f"{len(unscored)} of {len(self.judgments)} judgments are unscored (most often: {common[:160]}); the "
                f"run folder {self.out} is complete, see report.md (--allow-unscored to accept)")


@dataclass(frozen=True)
class Prepared:
    """What a run is about, checked before anything is paid for."""

    spec: JudgeSpec
    judge_label: str  # what the run was judged by: the LLM spec, or the offline scorers when no rubric asks an LLM
    rubrics: list[Rubric]
    samples: list[Sample]
    given: list[Caption]  # captions read from --captions files
    data_info: dict
    context: ScoringContext
    judge_note: str | None = None  # why the default judge is what it is (no credentials: offline)


def evaluate(cfg: RunConfig, samples: list[Sample] | None = None, captioners: dict | None = None) -> RunResult | None:
    """The whole run; under torchrun every rank captions its share and only rank 0 (which returns the
    result) judges and writes; the other ranks return None. From Python, `samples` replaces `cfg.data`
    and `captioners` adds models given as objects ({label: object with `caption(samples, params,
    batch_size)`}); their captions are not cached (an object has no weights file to key them by)."""
    return run_prepared(cfg, prepare(cfg, samples, captioners or {}), captioners or {})


def run_prepared(cfg: RunConfig, prep: Prepared, captioners: dict | None = None) -> RunResult | None:
    """`evaluate` once `prepare` has checked everything (the CLI says which judge it uses in between)."""
    started = time.time()
    cache = Cache(cfg.output.cache)
    try:
        t0 = time.time()
        captions, generation = caption_all(cfg, prep, captioners or {}, cache)
        if captions is None:
            return None
        caption_s, t0 = time.time() - t0, time.time()
        return judge_and_write(cfg, prep, captions, generation, cache, started, caption_s, t0)
    finally:
        cache.close()


def prepare(cfg: RunConfig, samples: list[Sample] | None, captioners: dict) -> Prepared:
    """Judge, rubrics, models, data and output folder, each checked: a mistake ends here in one line."""
    from vlmgrade.data.datasets import describe, in_memory, load_samples
    from vlmgrade.pipeline.captioning import read_captions
    from vlmgrade.zoo import resolve, split_label

    _check_labels(cfg.models, captioners)  # before anything is loaded: a label is shown in every table and report
    spec, note = parse_judge(cfg.judging.judge, cfg.judging.base_url)  # the CLI says why the default changed
    rubrics = load_rubrics(cfg, spec)
    spec = judge_for(spec, rubrics, cfg)
    for m in cfg.models:  # an unknown model fails at once, before any picture is drawn or read
        resolve(m, cfg.engine.download)
    if not cfg.models and not cfg.captions and not captioners:
        raise UserError("nothing to judge: give --model (to caption) or --captions FILE")
    data_info = describe(cfg.data) if samples is None else in_memory(samples)
    samples = load_samples(cfg.data, cfg.limit) if samples is None else list(samples)[: cfg.limit]
    if not samples:
        raise UserError(f"dataset {cfg.data} has no samples")
    given = [c for path in cfg.captions for c in read_captions(Path(path), samples)]
    for r in rubrics:  # a template error surfaces before any model or judge is paid for
        if not r.offline:
            build_messages(r, samples[0], Caption(samples[0].id, "example", ""))
    if cfg.budget.price_table:  # read now, whatever the judge: a mistyped path is said before any work
        from vlmgrade.pipeline.cost import load_prices

        load_prices(cfg.budget.price_table)
    if cfg.output.out and not cfg.budget.dry_run:
        check_out(Path(cfg.output.out), cfg)
    sources = dict(split_label(m) for m in cfg.models)
    context = ScoringContext(train_data=cfg.judging.train_data, sources=sources, seed=cfg.seed)
    llm = any(not r.offline for r in rubrics)
    label = spec.label if llm else ", ".join(dict.fromkeys(r.judge.model for r in rubrics))
    return Prepared(spec, label, rubrics, samples, given, data_info, context, note)


def _check_labels(models: tuple[str, ...], captioners: dict) -> None:
    """Each label printable text on one line (check_label); two models under one label would be pooled into one
    column: refused. The same model twice is one."""
    from vlmgrade.pipeline.captioning import check_label
    from vlmgrade.zoo import split_label

    sources: dict[str, str] = {}
    named = [(*split_label(m), "--model") for m in models]
    for label, source, where in [*named, *((label, f"object {label}", "models") for label in captioners)]:
        check_label(label, where)
        if sources.setdefault(label, source) != source:
            raise UserError(f"two models are labelled {label!r} ({sources[label]} and {source}); give each its own "
                            "LABEL=SOURCE")


def caption_all(cfg: RunConfig, prep: Prepared, captioners: dict,
                cache: Cache) -> tuple[list[Caption] | None, dict[str, dict]]:
    """Every model's captions (and the controls'); None on a torchrun rank other than 0."""
    from vlmgrade.core import distributed
    from vlmgrade.pipeline.captioning import caption_stage
    from vlmgrade.zoo import split_label

    device = distributed.setup(cfg.engine.device)
    captions, generation = list(prep.given), {}
    for m in dict.fromkeys(cfg.models):
        made, stats = caption_stage(m, prep.samples, cfg.generation, cfg.engine, device, cache, cfg.output.progress)
        label, source = split_label(m)  # keyed by the label every table shows, the source beside it
        generation[label] = stats if label == source else {"source": source, **stats}
        captions += made
    for label, captioner in captioners.items():
        captions += [Caption(c.sample_id, label, c.text, cfg.generation)
                     for c in captioner.caption(prep.samples, cfg.generation, cfg.engine.batch_size)]
    if cfg.controls and any(judge_kind(r.judge.model).reads_picture for r in prep.rubrics if r.offline):
        captions += _rotated_captions(cfg, prep, captioners, cache, device)
    distributed.teardown()
    if not distributed.is_main():
        return None, generation
    names = list(dict.fromkeys(c.model for c in captions))
    if cfg.judging.baseline and cfg.judging.baseline not in names:
        raise UserError(f"--baseline {cfg.judging.baseline}: not one of the models ({', '.join(names)})")
    if cfg.controls:
        captions += _controls(prep.samples, captions, cfg)
    return captions, generation


def _rotated_captions(cfg: RunConfig, prep: Prepared, captioners: dict, cache: Cache,
                      device: str) -> list[Caption]:
    """Each model's captions of the pictures swapped with other samples' (`MODEL@rotated`): what a model
    scores without its own picture, for the judges that check text against the picture."""
    from vlmgrade.analysis.controls import ROTATED, rotated
    from vlmgrade.pipeline.captioning import caption_stage

    swapped = rotated(prep.samples)
    if not swapped:
        return []
    out = []
    for m in dict.fromkeys(cfg.models):
        made, _ = caption_stage(m, swapped, cfg.generation, cfg.engine, device, cache, cfg.output.progress,
                                title=f"caption {m} (rotated pictures)")
        out += [replace(c, model=c.model + ROTATED) for c in made]
    for label, captioner in captioners.items():
        out += [Caption(c.sample_id, label + ROTATED, c.text, cfg.generation)
                for c in captioner.caption(swapped, cfg.generation, cfg.engine.batch_size)]
    return out


def judge_and_write(cfg: RunConfig, prep: Prepared, captions: list[Caption], generation: dict[str, dict],
                    cache: Cache, started: float, caption_s: float, t0: float) -> RunResult:
    from vlmgrade.analysis.controls import is_control
    from vlmgrade.pipeline.dispatch import judge_stage
    from vlmgrade.pipeline.plan import plan, weighted
    from vlmgrade.report.folder import new_run_id, run_record, write_run

    spec = prep.spec
    judge_plan = plan(prep.samples, captions, prep.rubrics, spec, cfg.judging, cfg.budget, cache,
                      frozenset(c.model for c in captions if is_control(c.model)) if cfg.controls else frozenset(),
                      prep.context)
    if cfg.budget.dry_run:
        return RunResult(Path(cfg.output.out or "-"), prep.judge_label, captions, [], judge_plan.estimate())
    run_id = new_run_id()
    out = Path(cfg.output.out) if cfg.output.out else runs_dir() / run_id
    judgments, ledger = asyncio.run(judge_stage(judge_plan, spec, cfg.judging, cfg.budget, cache, out,
                                                cfg.output.progress))
    stats = RunStats(ledger, judge_plan.estimate(), generation,
                     Timings(caption_s, time.time() - t0, time.time() - started),
                     weighted=any(weighted(r, cfg.judging) for r in prep.rubrics))
    summary = summarise(judgments, captions, prep.rubrics, cfg, prep.samples, prep.context)
    models = list(dict.fromkeys(r.model for r in summary.rows if not r.control))
    ids = hashlib.sha256("\n".join(sorted(s.id for s in prep.samples)).encode()).hexdigest()[:16]
    record = run_record(run_id, cfg, spec, prep.judge_label, prep.rubrics, models, len(prep.samples),
                        {**prep.data_info, "samples": ids}, stats.to_dict())
    scores = write_run(out, record, prep.rubrics, prep.samples, captions, judgments, summary)
    return RunResult(out, prep.judge_label, captions, judgments, stats.estimate, stats, summary, record, scores)


def load_rubrics(cfg: RunConfig, spec: JudgeSpec) -> list[Rubric]:
    """The rubrics asked for, else the judge's own default; an LLM rubric needs a judge that sends requests."""
    names = cfg.rubrics or (spec.declared.default_rubric,)
    rubrics = [load_rubric(r) for r in dict.fromkeys(names)]
    llm = [r.name for r in rubrics if not r.offline]
    if spec.offline and llm:
        raise UserError(f"rubric {llm[0]} needs an LLM judge; pass --judge openai:MODEL (with OPENAI_API_KEY or "
                        f"--judge-base-url), or use --rubric {spec.declared.default_rubric}")
    return rubrics


def warn(message: str) -> None:
    print(f"vlmgrade: warning: {message}", file=sys.stderr)


def judge_for(spec: JudgeSpec, rubrics: list[Rubric], cfg: RunConfig) -> JudgeSpec:
    """Without --judge, an LLM rubric's own `judge.model` is the judge (for kinds that let a rubric name
    the model); with it, a rubric asking for another model is warned about. Repeats at temperature 0 are
    warned about: they pay for identical answers."""
    llm = [r for r in rubrics if not r.offline]
    if spec.declared.rubric_names_model and llm:
        wanted = llm[0].judge.model
        if cfg.judging.judge is None and wanted and wanted != spec.model:
            spec = replace(spec, model=wanted)
        for r in llm:
            if r.judge.model and r.judge.model != spec.model:
                warn(f"rubric {r.name} asks for judge model {r.judge.model}; judging with {spec.model}")
    if cfg.judging.repeats > 1:
        cold = [r.name for r in llm if (cfg.judging.temperature if cfg.judging.temperature is not None
                                        else r.judge.temperature) == 0]
        if cold:
            warn(f"--repeats {cfg.judging.repeats} at judge temperature 0 ({', '.join(cold)}): the repeats will "
                 "likely be identical and cost as many times; raise --judge-temperature")
    return spec


def check_out(out: Path, cfg: RunConfig) -> None:
    """Refuse to write into a non-empty folder, unless told to or it holds this same run (a resume); never into
    a file, the current folder or one above it (the run folder replaces `out` whole, by rename)."""
    output_folder(out, "--out")
    if out.resolve() in (Path.cwd(), *Path.cwd().parents):
        raise UserError(f"--out {out} is the current folder or one above it; give a folder of its own")
    if cfg.output.overwrite or not out.exists() or not any(out.iterdir()):
        return
    if {p.name for p in out.iterdir()} <= {"batches.json"}:  # a run killed while its batches ran: resume it
        return
    previous = _previous_config(out)
    if previous != _comparable(asdict(cfg)):
        what = "a run.json that cannot be read, so no resume of this run" if previous is None and \
            os.path.lexists(out / "run.json") else "another run (or other files)"
        raise UserError(f"--out {out} is not empty and holds {what}; pass --overwrite to replace it, or choose "
                        "another folder")


def _comparable(config: dict) -> Any:
    """A config as run.json holds it, without the output options (where and how the run is written)."""
    return json.loads(json.dumps({k: v for k, v in config.items() if k != "output"}))


def _previous_config(out: Path) -> Any:
    from vlmgrade.report.folder import previous_config

    config = previous_config(out)
    return None if config is None else _comparable(config)


def _controls(samples: list[Sample], captions: list[Caption], cfg: RunConfig) -> list[Caption]:
    from vlmgrade.analysis.controls import CONTROLS, control_captions

    clash = {c.model for c in captions} & set(CONTROLS)
    if clash:
        raise UserError(f"a model is named {sorted(clash)[0]!r}, the name of a judge control; rename it")
    return control_captions(samples, cfg.seed, cfg.controls_limit)
