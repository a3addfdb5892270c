"""The one registry of judge kinds: what `--judge` and a rubric's `judge.model` may name.

A kind is registered here once, with what the rest of the package asks of it: whether it is offline
(scored here, from the sample) or sends requests, the rubric `run` uses when none is given, which
model label its baseline rows carry, and whether it adds corpus figures. Runner, judging, rubrics and
the CLI ask this table; no module outside `judges/` tests a judge's name.

Adding an offline scorer: one module under `judges/offline/` with a class following
`judges.protocol.OfflineScorer`, one `JudgeKind` line below, and one rubric YAML whose `judge.model` is
the kind's name and whose criteria name the figures the scorer computes (the README shows one).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, Any

from vlmgrade.core.errors import UserError

if TYPE_CHECKING:
    from vlmgrade.judges.protocol import OfflineScorer


@dataclass(frozen=True)
class JudgeKind:
    """One kind of judge and what it declares."""

    name: str
    target: str  # "module:attr", imported on first use: an LLM client class, or an offline scorer class
    offline: bool  # scored here from the sample and its annotations or references; never sends a request
    default_rubric: str  # what `run` judges with when no --rubric is given
    usage: str  # how `--judge` names it
    needs_credentials: bool = False  # an API key or a base URL must be set
    rubric_names_model: bool = False  # without --judge, an LLM rubric's own judge.model names the model
    local: bool = False  # runs in this process: the model is its own endpoint in cache keys
    baseline_model: str | None = None  # a label its scorer adds rows for: a baseline, not a model
    corpus: bool = False  # its scorer also computes corpus figures (scores.json "corpus")
    headline: tuple[str, ...] = ()  # the criteria `caption` shows beside each completion
    reads_picture: bool = False  # checks text against the picture: --controls adds rotated-picture captions

    def load(self) -> Any:
        module, _, attr = self.target.partition(":")
        return getattr(import_module(module), attr)


JUDGE_KINDS: dict[str, JudgeKind] = {k.name: k for k in (
    JudgeKind("openai", "vlmgrade.judges.llm.openai:OpenAIJudge", offline=False, default_rubric="nanovlm-paper",
              usage="openai:MODEL", needs_credentials=True, rubric_names_model=True),
    JudgeKind("hf", "vlmgrade.judges.llm.hf:HFJudge", offline=False, default_rubric="nanovlm-paper",
              usage="hf:PATH|HUB_ID", local=True),
    JudgeKind("grounded", "vlmgrade.judges.offline.grounded:GroundedScorer", offline=True,
              default_rubric="grounded", usage="grounded", headline=("precision", "grounded"),
              reads_picture=True),
    JudgeKind("references", "vlmgrade.judges.offline.references:ReferenceMetrics", offline=True,
              default_rubric="references", usage="references", corpus=True, baseline_model="prefix-only"),
    JudgeKind("memorisation", "vlmgrade.judges.offline.memorisation:MemorisationScorer", offline=True,
              default_rubric="memorisation", usage="memorisation", baseline_model="reference"),
)}
DEFAULT_OFFLINE = "grounded"  # the judge `run` falls back to without credentials


def judge_kind(name: str) -> JudgeKind:
    if name not in JUDGE_KINDS:
        raise UserError(f"unknown judge kind {name!r}: {', '.join(k.usage for k in JUDGE_KINDS.values())}")
    return JUDGE_KINDS[name]


def is_offline(judge_model: str | None) -> bool:
    """Whether a rubric's `judge.model` names an offline scorer (anything else is an LLM's model name)."""
    kind = JUDGE_KINDS.get(judge_model or "")
    return kind is not None and kind.offline


def offline_scorer(name: str) -> OfflineScorer:
    kind = judge_kind(name)
    if not kind.offline:
        raise UserError(f"judge {name} is not an offline scorer")
    return kind.load()()


def baseline_models(judge_models: list[str]) -> dict[str, str]:
    """{judge model: the label of its baseline rows} for the offline scorers that add baseline rows."""
    return {m: JUDGE_KINDS[m].baseline_model for m in judge_models
            if m in JUDGE_KINDS and JUDGE_KINDS[m].baseline_model}
