"""`evaluate(...)`: wires the stages (data, captions, rubric+judge, scores, report) and owns the cache.
Every caption and judgment is looked up in the cache first and committed to it as soon as it exists,
so an interrupted run resumes without paying twice. Everything the report shows is computed here,
in memory, before the writer writes it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from vlmgrade.core.errors import UserError
from vlmgrade.core.options import RunConfig
from vlmgrade.core.types import Caption, Judgment, Sample, ScoreRow
from vlmgrade.judges import parse_judge
from vlmgrade.judges.llm.openai import build_messages
from vlmgrade.pipeline.cache import Cache
from vlmgrade.rubrics.rubric import Rubric, load_rubric


@dataclass(frozen=True)
class Summary:
    """Everything a run's judgments add up to; the writers only format it."""

    rows: list[ScoreRow] = field(default_factory=list)  # models, controls (control=True), pairwise (pairwise=True)
    comparison: dict | None = None  # the first two models, paired
    noise: list = field(default_factory=list)  # scores.NoiseRow per criterion
    checks: list = field(default_factory=list)  # controls.Check per criterion and control, with --controls
    agreement: list = field(default_factory=list)  # agreement.AgreementRow of repeat 1 with repeat 2, with --repeats
    pairwise: list = field(default_factory=list)  # pairwise.PairwiseSummary per pairwise rubric
    corpus: list = field(default_factory=list)  # judges.references.CorpusFigure per model, with `references`
    judge_vs_metrics: list = field(default_factory=list)  # agreement.Correlation of LLM criteria with metrics


@dataclass(frozen=True)
class RunResult:
    out: Path
    judge: str
    captions: list[Caption]
    judgments: list[Judgment]
    stats: dict  # requests sent, cache hits, retries, usage, cost, generation, timings; or the dry-run estimate
    summary: Summary = field(default_factory=Summary)

    @property
    def rows(self) -> list[ScoreRow]:
        return self.summary.rows


def load_rubrics(cfg: RunConfig, judge_kind: str) -> list[Rubric]:
    names = cfg.rubrics or (("grounded",) if judge_kind == "grounded" else ("nanovlm-paper",))
    rubrics = [load_rubric(r) for r in dict.fromkeys(names)]
    if judge_kind == "grounded" and any(not r.offline for r in rubrics):
        bad = next(r.name for r in rubrics if not r.offline)
        raise UserError(f"rubric {bad} needs an LLM judge; pass --judge openai:MODEL (with OPENAI_API_KEY or "
                        "--judge-base-url), or use --rubric grounded")
    return rubrics


def evaluate(cfg: RunConfig, samples: list[Sample] | None = None, captioners: dict | None = None) -> RunResult | None:
    """The whole run; under torchrun every rank captions its share and only rank 0 (which returns the
    result) judges and writes; the other ranks return None. From Python, `samples` replaces `cfg.data`
    and `captioners` adds models given as objects ({label: object with `caption(samples, params,
    batch_size)`}); their captions are not cached (an object has no weights file to key them by)."""
    from vlmgrade.data.datasets import describe, in_memory, load_samples
    from vlmgrade.pipeline import distributed
    from vlmgrade.pipeline.captioning import caption_stage, read_captions
    from vlmgrade.pipeline.judging import judge_stage, plan, weighted
    from vlmgrade.report.folder import new_run_id, run_record, write_run

    started = time.time()
    spec, _ = parse_judge(cfg.judging.judge, cfg.judging.base_url)  # the CLI says why the default changed
    rubrics = load_rubrics(cfg, spec.kind)
    spec = judge_for(spec, rubrics, cfg)
    if cfg.judging.concurrency < 1 or cfg.judging.repeats < 1:
        raise UserError("--concurrency and --repeats must be at least 1")
    from vlmgrade.zoo import resolve

    for m in cfg.models:  # an unknown model fails at once, before any picture is drawn or read
        resolve(m, cfg.engine.download)
    data_info = describe(cfg.data) if samples is None else in_memory(samples)
    samples = load_samples(cfg.data, cfg.limit) if samples is None else list(samples)[: cfg.limit]
    if not samples:
        raise UserError(f"dataset {cfg.data} has no samples")
    captioners = captioners or {}
    if not cfg.models and not cfg.captions and not captioners:
        raise UserError("nothing to judge: give --model (to caption) or --captions FILE")
    given = [c for path in cfg.captions for c in read_captions(Path(path), samples)]
    for r in rubrics:  # a template error surfaces before any model or judge is paid for
        if not r.offline:
            build_messages(r, samples[0], Caption(samples[0].id, "example", ""))
    if cfg.output.out and not cfg.budget.dry_run:
        check_out(Path(cfg.output.out), cfg)  # before anything is paid for
    cache = Cache(cfg.output.cache)
    try:
        t0 = time.time()
        device = distributed.setup(cfg.engine.device)
        captions, generation = list(given), {}
        for m in dict.fromkeys(cfg.models):
            made, generation[m] = caption_stage(m, samples, cfg.generation, cfg.engine, device, cache,
                                                cfg.output.progress)
            captions += made
        for label, captioner in captioners.items():
            captions += [Caption(c.sample_id, label, c.text, cfg.generation)
                         for c in captioner.caption(samples, cfg.generation, cfg.engine.batch_size)]
        distributed.teardown()
        if not distributed.is_main():
            return None
        names = list(dict.fromkeys(c.model for c in captions))
        if cfg.judging.baseline and cfg.judging.baseline not in names:
            raise UserError(f"--baseline {cfg.judging.baseline}: not one of the models ({', '.join(names)})")
        if cfg.controls:
            captions += _controls(samples, captions, cfg)
        caption_s = time.time() - t0
        t0 = time.time()
        from vlmgrade.analysis.controls import CONTROLS

        judge_plan = plan(samples, captions, rubrics, spec, cfg.judging, cfg.budget, cache,
                          frozenset(CONTROLS) if cfg.controls else frozenset())
        if cfg.budget.dry_run:
            return RunResult(Path(cfg.output.out or "-"), spec.label, captions, [], {"estimate": judge_plan.summary()})
        run_id = new_run_id()
        out = Path(cfg.output.out) if cfg.output.out else runs_dir() / run_id
        judgments, ledger = asyncio.run(judge_stage(judge_plan, spec, cfg.judging, cfg.budget, cache, out,
                                                    cfg.output.progress))
        judge_s = time.time() - t0
    finally:
        cache.close()
    stats = {**ledger.to_dict(), "estimate": judge_plan.summary(), "generation": generation,
             "timings": {"caption_s": round(caption_s, 3), "judge_s": round(judge_s, 3),
                         "total_s": round(time.time() - started, 3)}}
    summary = summarise(judgments, captions, rubrics, cfg, samples)
    models = list(dict.fromkeys(r.model for r in summary.rows if not r.control))
    ids = hashlib.sha256("\n".join(sorted(s.id for s in samples)).encode()).hexdigest()[:16]
    stats["weighted"] = any(weighted(r, cfg.judging) for r in rubrics)
    record = run_record(run_id, cfg, spec, rubrics, models, len(samples), {**data_info, "samples": ids}, stats)
    write_run(out, record, rubrics, samples, captions, judgments, summary)
    return RunResult(out, spec.label, captions, judgments, stats, summary)


def warn(message: str) -> None:
    import sys

    print(f"vlmgrade: warning: {message}", file=sys.stderr)


def judge_for(spec, rubrics: list[Rubric], cfg: RunConfig):
    """Without --judge, an LLM rubric's own `judge.model` is the judge; with it, a rubric asking for another
    model is warned about. Repeats at temperature 0 are warned about: they pay for identical answers."""
    llm = [r for r in rubrics if not r.offline]
    if spec.kind == "openai" and llm:
        wanted = llm[0].judge.get("model")
        if cfg.judging.judge is None and wanted and wanted != spec.model:
            spec = replace(spec, model=wanted)
        for r in llm:
            if r.judge.get("model") and r.judge["model"] != spec.model:
                warn(f"rubric {r.name} asks for judge model {r.judge['model']}; judging with {spec.model}")
    if cfg.judging.repeats > 1:
        cold = [r.name for r in llm if (cfg.judging.temperature if cfg.judging.temperature is not None
                                        else r.judge.get("temperature", 0.0)) == 0]
        if cold:
            warn(f"--repeats {cfg.judging.repeats} at judge temperature 0 ({', '.join(cold)}): the repeats will "
                 "likely be identical and cost as many times; raise --judge-temperature")
    return spec


def runs_dir() -> Path:
    """Where run folders go without --out: $VLMGRADE_RUNS, else ./reports."""
    import os

    return Path(os.environ.get("VLMGRADE_RUNS") or "reports")


def check_out(out: Path, cfg: RunConfig) -> None:
    """Refuse to write into a non-empty folder, unless told to or it holds this same run (a resume)."""
    from dataclasses import asdict

    if cfg.output.overwrite or not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return
    if out.is_file():
        raise UserError(f"--out {out} is a file; give a folder")
    if {p.name for p in out.iterdir()} <= {"batches.json"}:  # a run killed while its batches ran: resume it
        return
    try:
        previous = json.loads((out / "run.json").read_text())["config"]
    except (OSError, ValueError, KeyError, TypeError):
        previous = None
    mine = {k: v for k, v in asdict(cfg).items() if k != "output"}
    if previous is None or {k: v for k, v in previous.items() if k != "output"} != json.loads(json.dumps(mine)):
        raise UserError(f"--out {out} is not empty and holds another run (or other files); pass --overwrite to "
                        "replace it, or choose another folder")


def _controls(samples: list[Sample], captions: list[Caption], cfg: RunConfig) -> list[Caption]:
    from vlmgrade.analysis.controls import CONTROLS, control_captions

    clash = {c.model for c in captions} & set(CONTROLS)
    if clash:
        raise UserError(f"a model is named {sorted(clash)[0]!r}, the name of a judge control; rename it")
    return control_captions(samples, cfg.seed, cfg.controls_limit)


def _baseline_row(row: ScoreRow, rubrics: list[Rubric]) -> bool:
    """The memorisation rubric's test-reference rows are a baseline, not a model."""
    from vlmgrade.judges.offline.memorisation import BASELINE

    return row.model == BASELINE and any(r.name == row.rubric and r.judge.get("model") == "memorisation"
                                         for r in rubrics)


def summarise(judgments: list[Judgment], captions: list[Caption], rubrics: list[Rubric], cfg: RunConfig,
              samples: list[Sample] = ()) -> Summary:
    """Score rows (controls marked, pairwise rubrics as strengths), the first two models' paired comparison
    (when there are two), the judge-noise table, with --repeats the judge's agreement with itself, and
    with --controls the sensitivity checks."""
    from vlmgrade.analysis.agreement import metric_correlations, repeat_agreement
    from vlmgrade.analysis.comparison import Run, compare
    from vlmgrade.analysis.controls import CONTROLS, sensitivity
    from vlmgrade.analysis.pairwise import pairwise_rows
    from vlmgrade.analysis.scores import judge_noise, score_rows

    controls = set(CONTROLS) if cfg.controls else set()
    absolute = [r for r in rubrics if not r.pairwise]
    single = [j for j in judgments if j.pair is None]
    rows = [replace(r, control=r.model in controls or _baseline_row(r, absolute))
            for r in score_rows(single, absolute, cfg.output.ci, cfg.seed)]
    models = [m for m in dict.fromkeys(c.model for c in captions) if m not in controls]
    pairwise = []
    for rubric in (r for r in rubrics if r.pairwise):
        more, summary = pairwise_rows(judgments, rubric, models, cfg.judging.baseline, cfg.seed)
        rows += more
        pairwise.append(summary)
    comparison = None
    if len(models) >= 2 and absolute:
        this = Run(Path("."), {"rows": [r.to_dict() for r in rows if not r.pairwise]}, single)
        comparison = compare(this, this, models[0], models[1])
    baselines = {r.model for r in rows if r.control}
    model_judgments = [j for j in single if j.model not in baselines]
    criteria = [(r.name, c.name) for r in absolute for c in r.criteria]
    corpus, versus = [], []
    for rubric in (r for r in absolute if r.judge.get("model") == "references"):
        from vlmgrade.judges.offline.references import corpus_figures

        mine = [c for c in captions if c.model not in controls]
        corpus += corpus_figures({s.id: s for s in samples}, mine, rubric.name, cfg.seed)
        llm = [(r.name, c.name) for r in absolute if not r.offline for c in r.criteria]
        versus += metric_correlations(model_judgments, llm, [(rubric.name, c.name) for c in rubric.criteria],
                                      seed=cfg.seed)
    return Summary(rows, comparison, judge_noise(model_judgments, captions, absolute),
                   sensitivity(single, absolute) if controls else [],
                   repeat_agreement(model_judgments, criteria) if cfg.judging.repeats > 1 else [], pairwise,
                   corpus, versus)
