"""The judging plan: every job of a run (one request body and cache key per caption, rubric and repeat),
what the cache already answers, what the rest will cost, and the offline rubrics' judgments, computed on
the spot by their registered scorers. A dry run prices the plan; --max-cost refuses it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from vlmgrade.core.errors import UserError
from vlmgrade.core.options import BudgetOptions, JudgingOptions
from vlmgrade.core.types import Caption, Judgment, Sample
from vlmgrade.judges import JudgeSpec, offline_scorer
from vlmgrade.judges.llm.logprobs import weighted_scores
from vlmgrade.judges.llm.openai import Reply, build_messages, request_body
from vlmgrade.judges.protocol import ScoringContext
from vlmgrade.pipeline.cache import Cache, key_of
from vlmgrade.pipeline.cost import Price, dollars, estimate_completion_tokens, estimate_prompt_tokens, load_prices
from vlmgrade.rubrics import Rubric, parse_reply


@dataclass(frozen=True)
class Job:
    rubric: Rubric
    caption: Caption
    repeat: int
    body: dict  # the request exactly as sent (direct or batch)
    key: str
    est_tokens: tuple[int, int]  # (prompt, completion) estimate
    pair: tuple[str, str] | None = None  # pairwise rubrics: the models shown as A and B (caption.model says "A vs B")

    @property
    def weighted(self) -> bool:
        return "logprobs" in self.body


@dataclass(frozen=True)
class Estimate:
    """What a plan will send and cost: a dry run prints it, run.json records it."""

    judge_requests: int
    from_cache: int
    to_send: int
    est_prompt_tokens: int
    est_completion_tokens: int
    est_usd: float | None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Plan:
    jobs: list[Job]
    cached: dict[str, Reply]
    new_keys: list[str]  # distinct requests not in the cache: what the run will pay for
    est_prompt_tokens: int = 0
    est_completion_tokens: int = 0
    est_usd: float | None = None
    price: Price | None = None  # of the judge model, when the price table knows it
    offline: list[Judgment] = field(default_factory=list)  # offline rubrics' judgments, computed on the spot
    batched: set[str] = field(default_factory=set)  # keys answered through the Batch API in this run

    def estimate(self) -> Estimate:
        return Estimate(len(self.jobs), len(self.jobs) - len(self.new_keys), len(self.new_keys),
                        self.est_prompt_tokens, self.est_completion_tokens, self.est_usd)


def plan(samples: list[Sample], captions: list[Caption], rubrics: list[Rubric], spec: JudgeSpec,
         judging: JudgingOptions, budget: BudgetOptions, cache: Cache, controls: frozenset[str] = frozenset(),
         context: ScoringContext | None = None) -> Plan:
    """Every job of the run; `controls` names the captions that are judge controls (no pairwise contestants);
    `context` is what offline scorers need (default: --train-data only). A dry run prices the plan only: the
    offline rubrics (free, and sent nowhere) are not scored."""
    context = context or ScoringContext(train_data=judging.train_data)
    by_id = {s.id: s for s in samples}
    jobs: list[Job] = []
    offline: list[Judgment] = []
    for rubric in rubrics:
        if rubric.offline:
            if not budget.dry_run:
                offline += offline_judgments(rubric, by_id, captions, context)
        else:
            jobs += _llm_jobs(rubric, by_id, captions, spec, judging, controls)
    cached = {k: Reply.from_cache(v) for k, v in cache.get_many("judgments", [j.key for j in jobs]).items()}
    new: dict[str, Job] = {}
    for j in jobs:
        if j.key not in cached:
            new.setdefault(j.key, j)
    p = Plan(jobs, cached, list(new), offline=offline)
    p.est_prompt_tokens = sum(j.est_tokens[0] for j in new.values())
    p.est_completion_tokens = sum(j.est_tokens[1] for j in new.values())
    if not new:  # nothing to send (all cached, or only offline rubrics): nothing to pay
        p.est_usd = 0.0
    elif spec.model:
        p.price = load_prices(budget.price_table).get(spec.model)
        p.est_usd = dollars(p.est_prompt_tokens, p.est_completion_tokens, p.price, batch=judging.batch)
    return p


def _llm_jobs(rubric: Rubric, by_id: Mapping[str, Sample], captions: list[Caption], spec: JudgeSpec,
              judging: JudgingOptions, controls: frozenset[str]) -> list[Job]:
    """One job per caption (a pairwise rubric: per ordered pair of captions) and repeat; its body rendered
    once, its key a hash of everything that changes the answer."""
    jobs = []
    shown_together = ordered_pairs(captions, rubric.name, controls) if rubric.pairwise else \
        [(c, None) for c in captions]
    for c, second in shown_together:
        messages = build_messages(rubric, by_id[c.sample_id], c, force_image=judging.image, second=second)
        body = request_body(spec, rubric, messages, judging.temperature, logprobs=weighted(rubric, judging))
        est = (estimate_prompt_tokens(messages), estimate_completion_tokens(len(rubric.criteria)))
        pair = (c.model, second.model) if second else None
        shown = Caption(c.sample_id, f"{c.model} vs {second.model}", "") if second else c
        for r in range(judging.repeats):
            key = key_of({"endpoint": spec.endpoint, "body": body, "rubric": rubric.hash, "repeat": r})
            jobs.append(Job(rubric, shown, r, body, key, est, pair))
    return jobs


def weighted(rubric: Rubric, judging: JudgingOptions) -> bool:
    """Whether a rubric's LLM scores are probability-weighted: asked for by the rubric or --judge-logprobs,
    for absolute rubrics sent to a judge (verdicts and offline scores have no score tokens to weigh)."""
    return not rubric.offline and not rubric.pairwise and bool(rubric.judge.logprobs or judging.logprobs)


def offline_judgments(rubric: Rubric, samples: Mapping[str, Sample], captions: list[Caption],
                      context: ScoringContext) -> list[Judgment]:
    """An offline rubric's judgments, by the scorer its `judge.model` names in the registry."""
    return offline_scorer(rubric.judge.model).judge_all(rubric, samples, captions, context)


def ordered_pairs(captions: list[Caption], rubric: str, controls: frozenset[str]) -> list[tuple[Caption, Caption]]:
    """Every pair of models on every sample, in both orders (A, B) and (B, A), so that position bias can be
    measured and removed. Judge controls are no contestants."""
    by_sample: dict[str, list[Caption]] = {}
    for c in captions:
        if c.model not in controls:
            by_sample.setdefault(c.sample_id, []).append(c)
    if max((len(v) for v in by_sample.values()), default=0) < 2:
        raise UserError(f"rubric {rubric} is pairwise: it needs captions of at least two models on a sample")
    pairs = []
    for group in by_sample.values():
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                pairs += [(a, b), (b, a)]
    return pairs


def check_budget(p: Plan, spec: JudgeSpec, max_cost: float | None) -> None:
    if max_cost is None or not p.new_keys:
        return
    if p.est_usd is None:
        raise UserError(f"--max-cost needs a price for {spec.model}; add it to a --price-table YAML")
    if p.est_usd > max_cost:
        raise UserError(f"estimated judge cost ${p.est_usd:.4f} for {len(p.new_keys)} requests exceeds "
                        f"--max-cost ${max_cost:g}; nothing was sent (see --dry-run)")


def judgment_of(job: Job, reply: Reply) -> Judgment:
    """Parse a reply into scores; with logprobs the expectation replaces the plain score, kept beside it."""
    c = job.caption
    scores, reason = parse_reply(job.rubric, reply.text)
    if job.weighted and reason is None:
        weighted, which = weighted_scores(job.rubric, reply.text, reply.logprobs or [], scores)
        return Judgment(c.sample_id, c.model, job.rubric.name, weighted, None, reply.text, job.repeat, reply.usage,
                        plain_scores=scores, weighted=tuple(which), pair=job.pair)
    return Judgment(c.sample_id, c.model, job.rubric.name, scores, reason, reply.text, job.repeat, reply.usage,
                    pair=job.pair)


def failed(job: Job, reason: str) -> Judgment:
    """A job with no answer: unscored, with the reason."""
    scores = {c.name: None for c in job.rubric.criteria}
    return Judgment(job.caption.sample_id, job.caption.model, job.rubric.name, scores, reason, repeat=job.repeat,
                    pair=job.pair)
