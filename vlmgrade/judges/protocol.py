"""What a judge is to the pipeline: an LLM client that answers request bodies, or an offline scorer that
judges captions on the spot. Every kind in the registry follows one of these."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from vlmgrade.core.errors import UserError

if TYPE_CHECKING:
    from vlmgrade.core.types import Caption, Judgment, Sample
    from vlmgrade.judges.llm.openai import Reply
    from vlmgrade.rubrics import Rubric


class RetryCount(Protocol):
    count: int


class LLMJudge(Protocol):
    """Answers chat-completion bodies (from `judges.llm.openai.request_body`)."""

    retries: RetryCount

    async def complete(self, body: dict) -> Reply: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ScoringContext:
    """What an offline scorer may need beyond samples and captions."""

    train_data: str | None = None  # --train-data: the training texts every model is checked against
    sources: Mapping[str, str] = field(default_factory=dict)  # model label -> the name it was loaded from
    seed: int = 0


class OfflineScorer(Protocol):
    """Judges captions from the samples alone; `corpus_figures` only for kinds registered with corpus."""

    def judge_all(self, rubric: Rubric, samples: Mapping[str, Sample], captions: Sequence[Caption],
                  context: ScoringContext) -> list[Judgment]: ...


def unscored(rubric: Rubric) -> dict[str, float | None]:
    return {c.name: None for c in rubric.criteria}


def kept(rubric: Rubric, computed: Mapping[str, float | None]) -> dict[str, float | None]:
    """The figures the rubric names, out of those a scorer computed. The rubric's YAML is the one place the
    criteria are written: one the scorer does not compute is a rubric error, not a silent gap."""
    missing = [c.name for c in rubric.criteria if c.name not in computed]
    if missing:
        raise UserError(f"rubric {rubric.name}: {rubric.judge.model} computes no {', '.join(missing)} (it computes "
                        f"{', '.join(computed)})")
    return {c.name: computed[c.name] for c in rubric.criteria}
