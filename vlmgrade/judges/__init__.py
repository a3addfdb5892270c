"""Judges: the registry of kinds (`registry`), what `--judge` names (`spec`), the protocols every kind
follows (`protocol`), LLM clients (`llm/`) and offline scorers (`offline/`)."""

from __future__ import annotations

from vlmgrade.core.errors import UserError
from vlmgrade.judges.registry import (
    DEFAULT_OFFLINE,
    JUDGE_KINDS,
    JudgeKind,
    baseline_models,
    is_offline,
    judge_kind,
    offline_scorer,
)
from vlmgrade.judges.spec import JudgeSpec, parse_judge

__all__ = ["DEFAULT_OFFLINE", "JUDGE_KINDS", "JudgeKind", "JudgeSpec", "baseline_models", "is_offline", "judge_kind",
           "offline_scorer", "open_judge", "parse_judge"]


def open_judge(spec: JudgeSpec, concurrency: int = 1):  # noqa: ANN201 - an LLMJudge (judges.protocol)
    """A live judge for a kind that sends requests, ready for `concurrency` requests at once."""
    if spec.offline:
        raise UserError(f"judge {spec.label} sends no requests (it scores offline)")
    return spec.declared.load()(spec, concurrency=concurrency)
