"""What a rubric is once loaded: criteria with their scales and directions, typed judge defaults, and
the prompt templates. Frozen: a rubric's hash (of its whole YAML) keys every judgment made with it."""

from __future__ import annotations

from dataclasses import dataclass, field

from vlmgrade.core.better import Better
from vlmgrade.judges.registry import is_offline

VERDICTS = {"A": 1.0, "B": 0.0, "tie": 0.5}  # a pairwise verdict as a number: the share of the win A gets
# the judge controls a criterion may require (analysis/controls.py)
CONTROL_NAMES = ("shuffled", "other", "empty", "constant")
# a judge that reads nothing cannot tell the reference from its own words shuffled, nor from nothing at all
DEFAULT_CONTROLS = ("shuffled", "empty")


@dataclass(frozen=True)
class Criterion:
    name: str
    description: str
    lo: float
    hi: float
    better: Better = Better.HIGHER  # which way every table, rank and plot reads this criterion
    controls: tuple[str, ...] = DEFAULT_CONTROLS  # the judge controls the reference must beat on it


@dataclass(frozen=True)
class JudgeDefaults:
    """A rubric's `judge:` mapping. `model` is an LLM's model name, or a registered offline scorer."""

    model: str = "gpt-4o"
    temperature: float = 0.0
    image: bool = False  # attach the picture to the prompt
    logprobs: bool = False  # probability-weighted scores

    def to_dict(self) -> dict:
        return {"model": self.model, "temperature": self.temperature, "image": self.image, "logprobs": self.logprobs}


@dataclass(frozen=True)
class Rubric:
    name: str
    version: str
    description: str
    criteria: tuple[Criterion, ...]
    prompt: str
    system: str | None = None
    judge: JudgeDefaults = field(default_factory=JudgeDefaults)
    hash: str = ""
    path: str = ""
    kind: str = "absolute"  # or "pairwise": the judge sees two completions and answers A, B or tie

    @property
    def pairwise(self) -> bool:
        return self.kind == "pairwise"

    @property
    def offline(self) -> bool:
        """Scored here by a registered offline scorer, never sent to an LLM; works beside any judge."""
        return is_offline(self.judge.model)
