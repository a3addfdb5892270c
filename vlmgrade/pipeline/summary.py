"""Everything a run's judgments add up to, computed in memory before anything is written: score rows
(controls and baselines marked, pairwise rubrics as strengths), the first two models' paired comparison,
judge noise, controls' checks, repeat agreement, pairwise summaries, and corpus figures. The writers
only format it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from vlmgrade.core.options import RunConfig
from vlmgrade.core.types import Caption, Judgment, Sample, ScoreRow
from vlmgrade.judges import baseline_models, judge_kind, offline_scorer
from vlmgrade.judges.protocol import ScoringContext
from vlmgrade.rubrics import Rubric


@dataclass(frozen=True)
class Summary:
    rows: list[ScoreRow] = field(default_factory=list)  # models, controls (control=True), pairwise (pairwise=True)
    comparison: dict | None = None  # the first two models, paired
    noise: list = field(default_factory=list)  # analysis.scores.NoiseRow per criterion
    checks: list = field(default_factory=list)  # analysis.controls.Check per criterion and control, with --controls
    agreement: list = field(default_factory=list)  # analysis.agreement.AgreementRow of repeat 1 with 2, with --repeats
    pairwise: list = field(default_factory=list)  # analysis.pairwise.PairwiseSummary per pairwise rubric
    corpus: list = field(default_factory=list)  # corpus figures per model, from scorers that declare them
    judge_vs_metrics: list = field(default_factory=list)  # analysis.agreement.Correlation of LLM criteria with metrics
    baselines: frozenset[tuple[str, str]] = frozenset()  # (rubric, model) rows a scorer added as its baseline
    model_checks: list = field(default_factory=list)  # analysis.controls.ModelCheck: each model vs blind baselines

    def shown_rows(self) -> list[ScoreRow]:
        """The rows a score table shows: the models, and the baselines their figures are read against."""
        return [r for r in self.rows if not r.control or (r.rubric, r.model) in self.baselines]


def summarise(judgments: list[Judgment], captions: list[Caption], rubrics: list[Rubric], cfg: RunConfig,
              samples: Sequence[Sample] = (), context: ScoringContext | None = None) -> Summary:
    """The Summary of a run's judgments; `context` is what offline scorers were given (corpus figures)."""
    from vlmgrade.analysis.agreement import repeat_agreement
    from vlmgrade.analysis.controls import is_control, model_checks, sensitivity
    from vlmgrade.analysis.scores import judge_noise, score_rows

    context = context or ScoringContext(train_data=cfg.judging.train_data, seed=cfg.seed)
    controls = {c.model for c in captions if is_control(c.model)} if cfg.controls else set()
    absolute = [r for r in rubrics if not r.pairwise]
    single = [j for j in judgments if j.pair is None]
    baselines = _baselines(absolute)
    rows = [replace(r, control=r.model in controls or (r.rubric, r.model) in baselines)
            for r in score_rows(single, absolute, cfg.output.ci, cfg.seed)]
    models = [m for m in dict.fromkeys(c.model for c in captions) if m not in controls]
    pairwise = []
    for rubric in (r for r in rubrics if r.pairwise):
        from vlmgrade.analysis.pairwise import pairwise_rows

        more, summary = pairwise_rows(judgments, rubric, models, cfg.judging.baseline, cfg.seed)
        rows += more
        pairwise.append(summary)
    comparison = _first_two(rows, single, models) if absolute else None
    not_models = {r.model for r in rows if r.control}
    model_judgments = [j for j in single if j.model not in not_models]
    criteria = [(r.name, c.name) for r in absolute for c in r.criteria]
    corpus, versus = _corpus(absolute, samples, [c for c in captions if c.model not in controls], model_judgments,
                             context)
    return Summary(rows, comparison, judge_noise(model_judgments, captions, absolute),
                   sensitivity(single, absolute) if controls else [],
                   repeat_agreement(model_judgments, criteria) if cfg.judging.repeats > 1 else [], pairwise,
                   corpus, versus, frozenset(baselines),
                   model_checks(single, absolute, models) if controls else [])


def _baselines(rubrics: list[Rubric]) -> set[tuple[str, str]]:
    """(rubric, model label) of the rows an offline scorer adds as the baseline of its rubric."""
    labels = baseline_models([r.judge.model for r in rubrics])
    return {(r.name, labels[r.judge.model]) for r in rubrics if r.judge.model in labels}


def _first_two(rows: list[ScoreRow], judgments: list[Judgment], models: list[str]) -> dict | None:
    """The first two models, paired on their shared samples (the report's comparison)."""
    if len(models) < 2:
        return None
    from vlmgrade.analysis.comparison import paired_rows

    plain = [r.to_dict() for r in rows if not r.pairwise]
    return {"run_a": "", "run_b": "", "rows": paired_rows(plain, judgments, models[0], plain, judgments, models[1])}


def _corpus(rubrics: list[Rubric], samples: Sequence[Sample], captions: list[Caption],
            model_judgments: list[Judgment], context: ScoringContext) -> tuple[list, list]:
    """Corpus figures of the scorers that declare them, and how each LLM criterion correlates with theirs."""
    from vlmgrade.analysis.agreement import metric_correlations

    corpus, versus = [], []
    by_id = {s.id: s for s in samples}
    llm = [(r.name, c.name) for r in rubrics if not r.offline for c in r.criteria]
    for rubric in rubrics:
        if not rubric.offline or not judge_kind(rubric.judge.model).corpus:
            continue
        corpus += offline_scorer(rubric.judge.model).corpus_figures(rubric, by_id, captions, context)
        versus += metric_correlations(model_judgments, llm, [(rubric.name, c.name) for c in rubric.criteria],
                                      seed=context.seed)
    return corpus, versus
