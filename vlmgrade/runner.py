"""`evaluate(...)`: wires the stages (data, captions, rubric+judge, scores, report) and owns the cache.
Every caption and judgment is looked up in the cache first and committed to it as soon as it exists,
so an interrupted run resumes without paying twice. Everything the report shows is computed here,
in memory, before the writer writes it."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path

from vlmgrade.cache import Cache
from vlmgrade.config import RunConfig
from vlmgrade.errors import UserError
from vlmgrade.judges import parse_judge
from vlmgrade.judges.openai import build_messages
from vlmgrade.rubric import Rubric, load_rubric
from vlmgrade.types import Caption, Judgment, ScoreRow


@dataclass(frozen=True)
class RunResult:
    out: Path
    judge: str
    rows: list[ScoreRow]
    captions: list[Caption]
    judgments: list[Judgment]
    stats: dict  # requests sent, cache hits, retries, usage, cost, generation, timings; or the dry-run estimate


def load_rubrics(cfg: RunConfig, judge_kind: str) -> list[Rubric]:
    names = cfg.rubrics or (("grounded",) if judge_kind == "grounded" else ("nanovlm-paper",))
    rubrics = [load_rubric(r) for r in dict.fromkeys(names)]
    if judge_kind == "grounded" and any(not r.offline for r in rubrics):
        bad = next(r.name for r in rubrics if not r.offline)
        raise UserError(f"rubric {bad} needs an LLM judge; pass --judge openai:MODEL (with OPENAI_API_KEY or "
                        "--judge-base-url), or use --rubric grounded")
    return rubrics


def evaluate(cfg: RunConfig) -> RunResult | None:
    """The whole run; under torchrun every rank captions its share and only rank 0 (which returns the
    result) judges and writes; the other ranks return None."""
    from vlmgrade import distributed
    from vlmgrade.captioning import caption_stage, read_captions
    from vlmgrade.data import describe, load_samples
    from vlmgrade.judging import judge_stage, plan
    from vlmgrade.report import new_run_id, run_record, write_run

    started = time.time()
    spec, _ = parse_judge(cfg.judging.judge, cfg.judging.base_url)  # the CLI says why the default changed
    rubrics = load_rubrics(cfg, spec.kind)
    if cfg.judging.concurrency < 1 or cfg.judging.repeats < 1:
        raise UserError("--concurrency and --repeats must be at least 1")
    samples = load_samples(cfg.data, cfg.limit)
    if not samples:
        raise UserError(f"dataset {cfg.data} has no samples")
    if not cfg.models and not cfg.captions:
        raise UserError("nothing to judge: give --model (to caption) or --captions FILE")
    given = [c for path in cfg.captions for c in read_captions(Path(path), samples)]
    for r in rubrics:  # a template error surfaces before any model or judge is paid for
        if not r.offline:
            build_messages(r, samples[0], Caption(samples[0].id, "example", ""))
    cache = Cache(cfg.output.cache)
    try:
        t0 = time.time()
        device = distributed.setup(cfg.engine.device)
        captions, generation = list(given), {}
        for m in dict.fromkeys(cfg.models):
            made, generation[m] = caption_stage(m, samples, cfg.generation, cfg.engine, device, cache,
                                                cfg.output.progress)
            captions += made
        distributed.teardown()
        if not distributed.is_main():
            return None
        caption_s = time.time() - t0
        t0 = time.time()
        judge_plan = plan(samples, captions, rubrics, spec, cfg.judging, cfg.budget, cache)
        if cfg.budget.dry_run:
            return RunResult(Path(cfg.output.out or "-"), spec.label, [], captions, [],
                             {"estimate": judge_plan.summary()})
        run_id = new_run_id()
        out = Path(cfg.output.out) if cfg.output.out else Path("reports") / run_id
        judgments, ledger = asyncio.run(judge_stage(judge_plan, spec, cfg.judging, cfg.budget, cache, out,
                                                    cfg.output.progress))
        judge_s = time.time() - t0
    finally:
        cache.close()
    stats = {**ledger.to_dict(), "estimate": judge_plan.summary(), "generation": generation,
             "timings": {"caption_s": round(caption_s, 3), "judge_s": round(judge_s, 3),
                         "total_s": round(time.time() - started, 3)}}
    rows, comparison, noise = summarise(judgments, captions, rubrics, cfg)
    models = list(dict.fromkeys(c.model for c in captions))
    record = run_record(run_id, cfg, spec, rubrics, models, len(samples), describe(cfg.data), stats)
    write_run(out, record, rubrics, samples, captions, judgments, rows, comparison, noise)
    return RunResult(out, spec.label, rows, captions, judgments, stats)


def summarise(judgments: list[Judgment], captions: list[Caption], rubrics: list[Rubric], cfg: RunConfig):
    """Score rows, the first two models' paired comparison (when there are two) and the judge-noise table."""
    from vlmgrade.compare import Run, compare
    from vlmgrade.scores import judge_noise, score_rows

    rows = score_rows(judgments, rubrics, cfg.output.ci, cfg.seed)
    models = list(dict.fromkeys(c.model for c in captions))
    comparison = None
    if len(models) >= 2:
        this = Run(Path("."), {"rows": [r.to_dict() for r in rows]}, judgments)
        comparison = compare(this, this, models[0], models[1])
    return rows, comparison, judge_noise(judgments, captions, rubrics)
