"""`evaluate(...)`: wires the stages (data, captions, rubric+judge, stats, report), owns concurrency,
the cache and progress. Every caption and judgment is looked up in the cache first and committed to
it as soon as it exists, so an interrupted run resumes without paying twice."""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from vlmgrade.cache import Cache, file_digest, image_digest, key_of
from vlmgrade.errors import UserError
from vlmgrade.judges.openai import build_messages, parse_judge
from vlmgrade.judging import judge_stage, plan
from vlmgrade.progress import progress_bar
from vlmgrade.rubric import load_rubric
from vlmgrade.types import Caption, GenerationParams, Sample


@dataclass
class RunConfig:
    models: list[str]
    data: str
    rubrics: list[str] = field(default_factory=list)  # empty: the judge's default rubric
    judge: str | None = None  # None: openai:gpt-4o with credentials, else grounded
    judge_base_url: str | None = None
    limit: int | None = None
    concurrency: int = 16
    repeats: int = 1  # judgments per caption and rubric; >1 needs a judge temperature above 0 to mean much
    judge_temperature: float | None = None  # overrides the rubric's judge temperature
    judge_image: bool = False  # attach the picture for every LLM rubric, not only those asking for it
    judge_logprobs: bool = False  # probability-weighted scores for every LLM rubric
    rpm: int | None = None
    tpm: int | None = None
    max_cost: float | None = None  # USD; refuse (before) or stop (during) past it
    price_table: str | None = None
    dry_run: bool = False
    batch: bool = False  # judge through the Batch API (half price, results within 24 h)
    batch_poll_s: float = 10.0
    seed: int = 0
    out: str | None = None
    ci: str = "t"
    max_new_tokens: int = 48
    batch_size: int = 32
    device: str = "auto"
    dtype: str = "auto"
    allow_pickle: bool = False
    cache: str | None = None
    progress: bool = True


@dataclass
class RunResult:
    out: Path
    judge: str
    rows: list[dict]
    captions: list[Caption]
    judgments: list[dict]
    stats: dict  # requests sent, cache hits, retries, usage, timings


def evaluate(cfg: RunConfig) -> RunResult | None:
    """The whole run; under torchrun every rank captions its share and only rank 0 (which returns the
    result) judges and writes; the other ranks return None."""
    from vlmgrade import distributed
    from vlmgrade.data import load_samples
    from vlmgrade.report import score_rows, write_run

    started = time.time()
    spec, _ = parse_judge(cfg.judge, cfg.judge_base_url)  # the CLI says why the default changed
    names = cfg.rubrics or (["grounded"] if spec.kind == "grounded" else ["nanovlm-paper"])
    rubrics = [load_rubric(r) for r in dict.fromkeys(names)]
    if spec.kind == "grounded" and any(not r.offline for r in rubrics):
        bad = next(r.name for r in rubrics if not r.offline)
        raise UserError(f"rubric {bad} needs an LLM judge; pass --judge openai:MODEL (with OPENAI_API_KEY or "
                        "--judge-base-url), or use --rubric grounded")
    if cfg.concurrency < 1 or cfg.repeats < 1:
        raise UserError("--concurrency and --repeats must be at least 1")
    samples = load_samples(cfg.data, cfg.limit)
    if not samples:
        raise UserError(f"dataset {cfg.data} has no samples")
    for r in rubrics:  # a template error surfaces before any model or judge is paid for
        if not r.offline:
            build_messages(r, samples[0], Caption(samples[0].id, cfg.models[0], ""))
    cache = Cache(cfg.cache)
    try:
        t0 = time.time()
        cfg.device = distributed.setup(cfg.device)
        params = GenerationParams(max_new_tokens=cfg.max_new_tokens, seed=cfg.seed)
        captions, generation = [], {}
        for m in dict.fromkeys(cfg.models):
            made, generation[m] = caption_stage(m, samples, params, cfg, cache)
            captions += made
        distributed.teardown()
        if not distributed.is_main():
            return None
        caption_s = time.time() - t0
        t0 = time.time()
        judge_plan = plan(samples, captions, rubrics, spec, cfg, cache)
        if cfg.dry_run:
            return RunResult(Path(cfg.out or "-"), spec.label, [], captions, [], {"estimate": judge_plan.summary()})
        judgments, counters = asyncio.run(judge_stage(judge_plan, spec, cfg, cache))
        judge_s = time.time() - t0
    finally:
        cache.close()
    rows = score_rows(judgments, rubrics, cfg.ci, cfg.seed)
    counters["generation"] = generation
    counters["timings"] = {"caption_s": round(caption_s, 3), "judge_s": round(judge_s, 3),
                           "total_s": round(time.time() - started, 3)}
    out = write_run(cfg, spec, rubrics, samples, captions, judgments, rows, counters)
    return RunResult(out, spec.label, rows, captions, judgments, counters)


# ----------------------------------------------------------------------------- captions

def model_identity(name: str) -> str:
    """A hash of the weights when they are local files, else the hub id: part of each caption's key."""
    from vlmgrade.zoo import resolve

    _, where = resolve(name)
    if isinstance(where, Path):
        weights = sorted(where.glob("*.safetensors"))
        if weights:
            return ":".join(file_digest(w)[:32] for w in weights)
    return str(where)


def caption_stage(model: str, samples: list[Sample], params: GenerationParams, cfg: RunConfig,
                  cache: Cache) -> tuple[list[Caption], dict]:
    """Captions from the cache, the rest generated (each rank its share under torchrun) and cached per batch.
    Returns the captions and what generation cost: images/s, tokens/s, peak memory."""
    from vlmgrade import distributed
    from vlmgrade.zoo import load_captioner

    identity = model_identity(model)
    keys = {s.id: key_of({"model": identity, "params": asdict(params), "image": image_digest(s.image),
                          "prefix": s.prefix}) for s in samples}
    found = cache.get_many("captions", list(keys.values()))
    distributed.barrier()  # every rank has read the same cache before any rank writes to it
    missing = [s for s in samples if keys[s.id] not in found]
    mine = distributed.shard(missing)
    stats = {"cached": len(samples) - len(missing), "generated": len(missing)}
    if mine:
        captioner = load_captioner(model, cfg.device, cfg.dtype, cfg.allow_pickle)
        shown = cfg.progress and distributed.is_main()
        with progress_bar(f"caption {model}", len(mine), shown) as bar:
            for start in range(0, len(mine), cfg.batch_size):
                batch = mine[start:start + cfg.batch_size]
                made = captioner.caption(batch, params, cfg.batch_size)
                cache.put_many("captions", [(keys[c.sample_id], {"text": c.text}) for c in made])
                found.update({keys[c.sample_id]: {"text": c.text} for c in made})
                bar.advance(len(batch))
        stats.update(_throughput(captioner, captioner.device))
    if distributed.world()[1] > 1:
        texts = distributed.gather([(k, v) for k, v in found.items()])
        found.update(dict(texts))
        stats["ranks"] = distributed.world()[1]
    return [Caption(s.id, model, found[keys[s.id]]["text"], params) for s in samples], stats


def _throughput(captioner, device: str) -> dict:
    import resource

    import torch

    st = captioner.stats
    seconds = max(st["seconds"], 1e-9)
    if str(device).startswith("cuda"):
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:  # the process's peak resident memory (Linux reports KiB)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"device": str(device), "dtype": str(next(captioner.model.parameters()).dtype).replace("torch.", ""),
            "images_per_s": round(st["images"] / seconds, 2), "tokens_per_s": round(st["tokens"] / seconds, 1),
            "tokens": st["tokens"], "seconds": round(st["seconds"], 3), "peak_memory_mb": round(peak_mb, 1)}
