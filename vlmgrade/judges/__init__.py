"""Judges: what `--judge` names, and the one place a new kind of judge is added.

A judge kind is a class with `complete(body) -> Reply` (body from `judges.openai.request_body`),
`close()` and a `retries` counter; `open_judge` picks it from `JUDGE_KINDS` by the spec's kind.
Offline scorers (the grounded judge) need no such class: a rubric whose `judge.model` is `grounded`
is scored on the spot by the judging stage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import import_module

from vlmgrade.core.errors import UserError

# kind -> "module:Class"; imported on first use so `vlmgrade --help` never loads openai
JUDGE_KINDS = {"openai": "vlmgrade.judges.llm.openai:OpenAIJudge", "hf": "vlmgrade.judges.llm.hf:HFJudge"}


@dataclass(frozen=True)
class JudgeSpec:
    """What `--judge` names. `model` is None for the grounded judge."""

    kind: str  # "openai", "hf" (a transformers chat model in this process) or "grounded"
    model: str | None = None
    base_url: str | None = None

    @property
    def label(self) -> str:
        return "grounded" if self.kind == "grounded" else f"{self.kind}:{self.model}"

    @property
    def endpoint(self) -> str:
        """What the cache keys name as the server: a local model is its own endpoint."""
        if self.kind == "hf":
            return f"hf:{self.model}"
        return self.base_url or "https://api.openai.com/v1"


def parse_judge(spec: str | None, base_url: str | None = None) -> tuple[JudgeSpec, str | None]:
    """The judge to use and, when the default was changed for lack of credentials, a note saying so."""
    base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
    if spec is None:
        if not os.environ.get("OPENAI_API_KEY") and not base_url:
            return JudgeSpec("grounded"), ("no OPENAI_API_KEY or OPENAI_BASE_URL set: judging offline with the "
                                           "grounded judge; set OPENAI_API_KEY (or --judge-base-url) and pass "
                                           "--judge openai:gpt-4o --rubric nanovlm-paper to grade with GPT-4o")
        return JudgeSpec("openai", "gpt-4o", base_url), None
    if spec == "grounded":
        return JudgeSpec("grounded"), None
    kind, _, model = spec.partition(":")
    if kind == "hf" and model:
        return JudgeSpec("hf", model), None
    if kind != "openai" or not model:
        raise UserError(f"unknown judge {spec!r}: use openai:MODEL (e.g. openai:gpt-4o), hf:PATH|HUB_ID or grounded")
    if not os.environ.get("OPENAI_API_KEY") and not base_url:
        raise UserError(f"--judge {spec} needs OPENAI_API_KEY (or a --judge-base-url for a local server)")
    return JudgeSpec("openai", model, base_url), None



def open_judge(spec: JudgeSpec, concurrency: int = 1):
    """A live judge for an LLM spec (its class from JUDGE_KINDS), ready for `concurrency` requests at once."""
    if spec.kind not in JUDGE_KINDS:
        raise UserError(f"judge kind {spec.kind!r} sends no requests (kinds: {', '.join(JUDGE_KINDS)})")
    module, _, name = JUDGE_KINDS[spec.kind].partition(":")
    return getattr(import_module(module), name)(spec, concurrency=concurrency)
