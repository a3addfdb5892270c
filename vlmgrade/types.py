"""The plain values that flow between vlmgrade's stages (see DESIGN.md, "One flow")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SceneObject:
    """One annotated object in a picture: what the grounded judge checks mentions against."""

    name: str
    color: str
    size: str = ""
    position: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "color": self.color, "size": self.size, "position": self.position}


@dataclass(frozen=True)
class Sample:
    """One evaluation item: an RGB image plus what the model is given and what it is checked against."""

    id: str
    image: Any  # PIL.Image.Image in RGB; kept untyped so importing types stays free of PIL
    prefix: str = ""
    references: tuple[str, ...] = ()
    objects: tuple[SceneObject, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class GenerationParams:
    """How a caption was sampled; part of the caption's identity."""

    max_new_tokens: int = 48
    temperature: float = 0.0  # 0 means greedy
    top_k: int = 0
    top_p: float = 1.0
    seed: int = 0


@dataclass(frozen=True)
class Caption:
    """What a model wrote for a sample, without the given prefix."""

    sample_id: str
    model: str
    text: str
    params: GenerationParams = GenerationParams()


@dataclass(frozen=True)
class Judgment:
    """Scores of one caption on one rubric; `scores` values are None when unscored."""

    sample_id: str
    model: str
    rubric: str
    scores: dict[str, float | None]
    unscored_reason: str | None = None
    raw: str = ""
    repeat: int = 0

    @property
    def scored(self) -> bool:
        return self.unscored_reason is None
