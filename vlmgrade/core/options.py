"""What a run is asked to do, grouped by the stage that reads it. Frozen: nothing changes a config
once the CLI or the Python API has built it (the device actually used comes back in the stats)."""

from __future__ import annotations

from dataclasses import dataclass, field

from vlmgrade.core.types import GenerationParams


@dataclass(frozen=True)
class EngineOptions:
    """How models run: where, in which precision, how many samples at once."""

    batch_size: int = 32
    device: str = "auto"  # auto: CUDA, else MPS, else CPU
    dtype: str = "auto"  # auto: float32 on CPU, float16 on a GPU
    allow_pickle: bool = False
    download: bool = False  # let a hub model be fetched (off: no surprise downloads)


@dataclass(frozen=True)
class JudgingOptions:
    """Which judge, how it is asked, and how hard it is pushed."""

    judge: str | None = None  # None: openai:gpt-4o with credentials, else grounded
    base_url: str | None = None
    concurrency: int = 16
    repeats: int = 1  # judgments per caption and rubric; >1 needs a judge temperature above 0 to mean much
    temperature: float | None = None  # overrides the rubric's judge temperature
    image: bool = False  # attach the picture for every LLM rubric, not only those asking for it
    logprobs: bool = False  # probability-weighted scores for every LLM rubric
    rpm: int | None = None
    tpm: int | None = None
    batch: bool = False  # judge through the Batch API (half price, results within 24 h)
    batch_poll_s: float = 10.0
    timeout: float = 60.0  # seconds for one judge request, its retries included; then unscored ("timeout")
    deadline: float | None = None  # seconds for the whole judging stage; then what is unanswered is unscored
    train_data: str | None = None  # the memorisation rubric's training texts (default: each model's training.json)
    baseline: str | None = None  # pairwise rubrics: win rates are against this model (default: the first)


@dataclass(frozen=True)
class BudgetOptions:
    """What the judge may cost."""

    max_cost: float | None = None  # USD; refuse (before) or stop (during) past it
    price_table: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class OutputOptions:
    """Where results go and how they are summarised."""

    out: str | None = None  # run folder; None: $VLMGRADE_RUNS (default reports)/<run-id>
    overwrite: bool = False  # write into a non-empty --out that holds another run
    ci: str = "t"
    cache: str | None = None  # None: $VLMGRADE_CACHE or ~/.cache/vlmgrade/cache.sqlite
    progress: bool = True


@dataclass(frozen=True)
class RunConfig:
    models: tuple[str, ...]
    data: str
    captions: tuple[str, ...] = ()  # captions.jsonl files judged as they are, instead of (or beside) models
    rubrics: tuple[str, ...] = ()  # empty: the judge's default rubric
    limit: int | None = None
    seed: int = 0  # generation sampling and bootstrap resampling
    controls: bool = False  # also judge the controls (reference, shuffled, other, empty) of controls.py
    controls_limit: int | None = None  # controls on the first N samples only
    generation: GenerationParams = GenerationParams()
    engine: EngineOptions = field(default_factory=EngineOptions)
    judging: JudgingOptions = field(default_factory=JudgingOptions)
    budget: BudgetOptions = field(default_factory=BudgetOptions)
    output: OutputOptions = field(default_factory=OutputOptions)
