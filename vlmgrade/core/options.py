"""What a run is asked to do: the one table of `run` options, and the frozen config built from it.

Every `vlmgrade run` flag and every keyword of `vlmgrade.evaluate` comes from `RUN_OPTIONS` below: the
CLI adds one flag per option, the API accepts one keyword per option, and both build the same
`RunConfig` through `run_config`. Frozen: nothing changes a config once built (the device actually used
comes back in the stats)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vlmgrade.core.errors import UserError
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

    judge: str | None = None  # None: openai:gpt-4o with credentials, else the offline default
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
    allow_unscored: bool = False  # accept a run whose judgments are mostly unscored (else exit 3 / MostlyUnscored)
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
    controls: bool = False  # also judge the controls (reference, shuffled, other, empty) of analysis/controls.py
    controls_limit: int | None = None  # controls on the first N samples only
    generation: GenerationParams = GenerationParams()
    engine: EngineOptions = field(default_factory=EngineOptions)
    judging: JudgingOptions = field(default_factory=JudgingOptions)
    budget: BudgetOptions = field(default_factory=BudgetOptions)
    output: OutputOptions = field(default_factory=OutputOptions)


# ---- value checks, shared by argparse (flags) and the API (keywords) ----

def positive(value: Any) -> int:
    number = _integer(value)
    if number <= 0:
        raise ValueError(f"must be a positive integer, got {value}")
    return number


def nonnegative(value: Any) -> int:
    number = _integer(value)
    if number < 0:
        raise ValueError(f"must be zero or more, got {value}")
    return number


def seconds(value: Any) -> float:
    number = _number(value)
    if not 0 < number < math.inf:
        raise ValueError(f"must be a positive number of seconds, got {value}")
    return number


def non_negative_number(value: Any) -> float:
    number = _number(value)
    if not 0 <= number < math.inf:
        raise ValueError(f"must be a finite number, zero or more, got {value!r}")
    return number


def positive_number(value: Any) -> float:
    number = non_negative_number(value)
    if number == 0:
        raise ValueError("must be above zero")
    return number


def usd(value: Any) -> float:
    number = _number(value)
    if not 0 <= number < math.inf:
        raise ValueError(f"must be a number of US dollars, zero or more, got {value}")
    return number


def temperature(value: Any) -> float:
    number = _number(value)
    if not 0 <= number <= 100:
        raise ValueError(f"must be a temperature from 0 (greedy) to 100, got {value}")
    return number


def probability(value: Any) -> float:
    number = _number(value)
    if not 0 < number <= 1:
        raise ValueError(f"must be a probability above 0 and at most 1, got {value}")
    return number


def seed(value: Any) -> int:
    number = _integer(value)
    if not 0 <= number < 2**32:
        raise ValueError(f"must be a whole number from 0 to 2^32 - 1, got {value}")
    return number


def _integer(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"must be a whole number, got {value!r}")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a whole number, got {value!r}") from None


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number, got {value!r}") from None
    if math.isnan(number):
        raise ValueError("must be a number, got NaN")
    return number


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


# ---- the table ----

@dataclass(frozen=True)
class Option:
    """One `run` option: the keyword of `evaluate` is `name`, the flag `--name` with dashes unless `flag`
    says otherwise; `target` is where it lands in RunConfig ("group.field", or a RunConfig field)."""

    name: str
    target: str
    help: str
    convert: Callable[[Any], Any] | None = _text  # None: a switch (store_true)
    default: Any = None
    repeat: bool = False  # the flag may be given again; the keyword takes a list
    flag: str | None = None
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    api_default: Any = ...  # where the Python API defaults otherwise (... = the same)
    required: bool = False

    @property
    def flag_name(self) -> str:
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def switch(self) -> bool:
        return self.convert is None

    def default_for(self, api: bool) -> Any:
        return self.api_default if api and self.api_default is not ... else self.default


GENERATION = "generation"
RUN_OPTIONS: tuple[Option, ...] = (
    Option("models", "models", "zoo card, model folder or hub id (LABEL=SOURCE names it LABEL); repeatable",
           repeat=True, flag="--model", default=(), metavar="NAME|PATH"),
    Option("captions", "captions", "judge captions written elsewhere (captions.jsonl: id, model, text) against "
           "--data's samples; no model is loaded; repeatable, and may go with --model", repeat=True, default=(),
           metavar="FILE"),
    Option("data", "data", "built-in NAME:SPLIT (scenes-short:test) or manifest path", required=True,
           api_default="scenes-short:test", metavar="NAME|PATH"),
    Option("rubrics", "rubrics", "built-in rubric name or YAML path; repeatable (default: the judge's own: "
           "nanovlm-paper with an LLM judge, grounded offline)", repeat=True, flag="--rubric", default=(),
           metavar="NAME|PATH"),
    # {kinds}: the registered judge kinds, filled in by cli/parser.py (core imports nothing above it)
    Option("judge", "judging.judge", "{kinds} (default: openai:gpt-4o when OPENAI_API_KEY or OPENAI_BASE_URL is "
           "set, else grounded)",
           metavar="SPEC"),
    Option("judge_base_url", "judging.base_url", "OpenAI-compatible endpoint (vLLM, Ollama, llama.cpp); "
           "default $OPENAI_BASE_URL"),
    Option("limit", "limit", "first N samples only", nonnegative, metavar="N"),
    Option("concurrency", "judging.concurrency", "judge requests in flight (default 16)", positive, 16),
    Option("repeats", "judging.repeats", "judgments per caption and rubric (each cached separately; intervals "
           "then resample whole samples)", positive, 1),
    Option("judge_temperature", "judging.temperature", "override the rubric's judge temperature", temperature),
    Option("judge_timeout", "judging.timeout", "per judge request, its retries included (default 60); a request "
           "that takes longer is unscored ('timeout') and the run goes on", seconds, 60.0, metavar="SECONDS"),
    Option("deadline", "judging.deadline", "for the whole judging stage: requests not answered by then are "
           "unscored ('deadline', not cached) and the run finishes", seconds, metavar="SECONDS"),
    Option("judge_image", "judging.image", "send the picture with every LLM rubric's prompt", None, False),
    Option("judge_logprobs", "judging.logprobs", "probability-weighted scores: the expectation over the judge's "
           "top-20 score tokens (the plain score is kept beside it)", None, False),
    Option("train_data", "judging.train_data", "the memorisation rubric's training texts (default: the "
           "train_data of each model's training.json)", metavar="NAME|PATH"),
    Option("baseline", "judging.baseline", "pairwise rubrics: win rates against this model (default: the first "
           "model)", metavar="MODEL"),
    Option("rpm", "judging.rpm", "at most this many judge requests per minute", positive),
    Option("tpm", "judging.tpm", "at most this many (estimated) judge tokens per minute", positive),
    Option("batch", "judging.batch", "judge through the OpenAI Batch API (half price); a killed run picks up its "
           "submitted batches", None, False),
    Option("batch_poll", "judging.batch_poll_s", "seconds between batch status checks", seconds, 10.0,
           metavar="SECONDS"),
    Option("dry_run", "budget.dry_run", "caption, then print the judge requests, estimated tokens and cost; send "
           "nothing", None, False),
    Option("max_cost", "budget.max_cost", "USD: refuse a run whose estimate exceeds it, stop one that reaches it",
           usd, metavar="USD"),
    Option("price_table", "budget.price_table", "YAML of USD per million tokens per judge model (default: built "
           "in)", metavar="YAML"),
    Option("controls", "controls", "also judge control completions (the reference, its words shuffled, another "
           "sample's reference, an empty one) and report whether the judge tells them apart on each criterion",
           None, False),
    Option("controls_limit", "controls_limit", "controls on the first N samples only (implies --controls)",
           positive, metavar="N"),
    Option("seed", "seed", "generation sampling and bootstrap resampling", seed, 0),
    Option("out", "output.out", "run folder (default $VLMGRADE_RUNS or reports, /<run-id>); a non-empty one is "
           "refused unless it holds this same run (a resume) or --overwrite", metavar="DIR"),
    Option("overwrite", "output.overwrite", "write into a non-empty --out that holds another run", None, False),
    Option("allow_unscored", "output.allow_unscored", "accept a run where more than half the judgments are "
           "unscored (default: exit 3; from Python, vlmgrade.MostlyUnscored)", None, False),
    Option("ci", "output.ci", "interval method (default Student t)", _text, "t", choices=("t", "bootstrap")),
    Option("cache", "output.cache", "the cache file (default $VLMGRADE_CACHE, else ~/.cache/vlmgrade/cache.sqlite)",
           metavar="FILE"),
    Option("quiet", "output.progress", "no progress bars", None, False, api_default=True),
    Option("max_new_tokens", "generation.max_new_tokens", "tokens a model may write per sample", positive, 48),
    Option("temperature", "generation.temperature", "generation temperature; 0 = greedy (default)", temperature,
           0.0),
    Option("top_k", "generation.top_k", "sample from the k likeliest tokens (0: all)", nonnegative, 0),
    Option("top_p", "generation.top_p", "nucleus sampling mass", probability, 1.0),
    Option("batch_size", "engine.batch_size", "samples per generation batch", positive, 32),
    Option("device", "engine.device", "auto (CUDA, else MPS, else CPU), cpu, cuda, cuda:N, mps", _text, "auto"),
    Option("dtype", "engine.dtype", "auto (float32 on CPU, float16 on GPU), float32, float16, bfloat16", _text,
           "auto", choices=("auto", "float32", "float16", "bfloat16")),
    Option("download", "engine.download", "let a hub model be fetched from the Hugging Face hub (off by default: "
           "no surprise downloads)", None, False),
    Option("allow_pickle", "engine.allow_pickle", "load a checkpoint that has no safetensors, with "
           "torch.load(weights_only=True)", None, False),
)
OPTIONS_BY_NAME = {o.name: o for o in RUN_OPTIONS}
# what `caption` shares with `run`: how models generate and run, which samples, and the bars
CAPTION_OPTIONS = ("limit", "seed", "max_new_tokens", "temperature", "top_k", "top_p", "batch_size", "device",
                   "dtype", "download", "allow_pickle", "quiet")
ENGINE_OPTION_NAMES = ("max_new_tokens", "temperature", "top_k", "top_p", "batch_size", "device", "dtype",
                       "download", "allow_pickle", "seed", "quiet", "limit")  # what `caption` shares with `run`


def add_arguments(parser: argparse.ArgumentParser, names: tuple[str, ...] | None = None) -> None:
    """One flag per option (all of them, or those named), with the table's help, default and check."""
    for o in RUN_OPTIONS if names is None else (OPTIONS_BY_NAME[n] for n in names):
        kwargs: dict[str, Any] = {"dest": o.name, "help": o.help}
        if o.switch:
            kwargs.update(action="store_true")
        else:
            kwargs.update(type=flag_type(o.convert), metavar=o.metavar, choices=o.choices)
            kwargs.update(action="append", default=[]) if o.repeat else kwargs.update(default=o.default)
            kwargs["required"] = o.required
        parser.add_argument(o.flag_name, **kwargs)


def flag_type(convert: Callable[[Any], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    parse.__name__ = convert.__name__.strip("_")  # argparse names the type in its error
    return parse


def checked(values: Mapping[str, Any], api: bool = True) -> dict[str, Any]:
    """Every option's value (the default where not given), each checked as its flag would be. An unknown
    keyword is a TypeError naming the known ones; a bad value a UserError naming the option."""
    unknown = sorted(set(values) - set(OPTIONS_BY_NAME))
    if unknown:
        raise TypeError(f"unknown options {', '.join(unknown)}; known: {', '.join(sorted(OPTIONS_BY_NAME))}")
    out = {}
    for o in RUN_OPTIONS:
        value = values.get(o.name, o.default_for(api))
        out[o.name] = _check(o, value) if value is not None and value is not o.default_for(api) else value
    return out


def _check(o: Option, value: Any) -> Any:
    try:
        if o.switch:
            if not isinstance(value, bool):
                raise ValueError(f"must be True or False, got {value!r}")
            return value
        if o.repeat:
            items = [value] if isinstance(value, str) else list(value)
            return tuple(o.convert(v) for v in items)
        converted = o.convert(value)
        if o.choices and converted not in o.choices:
            raise ValueError(f"must be one of {', '.join(o.choices)}, got {value!r}")
        return converted
    except ValueError as e:
        raise UserError(f"{o.name} ({o.flag_name}): {e}") from None


def run_config(values: Mapping[str, Any]) -> RunConfig:
    """The RunConfig of checked option values (see `checked`)."""
    groups: dict[str, dict[str, Any]] = {"": {}, "generation": {}, "engine": {}, "judging": {}, "budget": {},
                                         "output": {}}
    for o in RUN_OPTIONS:
        group, _, name = o.target.rpartition(".")
        value = values[o.name]
        groups[group][name] = tuple(value) if o.repeat else (not value if o.name == "quiet" else value)
    top = groups[""]
    top["controls"] = bool(top["controls"] or top["controls_limit"] is not None)
    return RunConfig(**top, generation=GenerationParams(**groups["generation"], seed=top["seed"]),
                     engine=EngineOptions(**groups["engine"]), judging=JudgingOptions(**groups["judging"]),
                     budget=BudgetOptions(**groups["budget"]), output=OutputOptions(**groups["output"]))
