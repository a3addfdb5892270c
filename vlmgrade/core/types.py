"""The plain values that flow between vlmgrade's stages (see DESIGN.md, "One flow")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vlmgrade.core.better import Better


@dataclass(frozen=True)
class SceneObject:
    """One annotated object in a picture: what the grounded judge checks claims against.

    `size` is "small", "big" or "" (not annotated); `box` is (x0, y0, x1, y1) in fractions of the
    picture's width and height, y down, or None when the manifest gives none.
    """

    name: str
    color: str
    size: str = ""
    position: str = ""
    box: tuple[float, float, float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        box = None if self.box is None else [round(v, 4) for v in self.box]
        return {"name": self.name, "color": self.color, "size": self.size, "position": self.position, "box": box}


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
    """Scores of one caption on one rubric; `scores` values are None when unscored.

    With probability weighting, `scores` holds the expectations, `plain_scores` the numbers the judge
    wrote and `weighted` the criteria whose expectation could be taken.
    """

    sample_id: str
    model: str
    rubric: str
    scores: dict[str, float | None]
    unscored_reason: str | None = None
    raw: str = ""
    repeat: int = 0
    usage: dict[str, int | None] = field(default_factory=dict)
    plain_scores: dict[str, float | None] | None = None
    weighted: tuple[str, ...] | None = None
    details: dict[str, Any] | None = None  # offline judges: each claim's verdict, why a criterion is unscored
    pair: tuple[str, str] | None = None  # pairwise rubrics: the models shown as A and B; scores are 1 A, 0 B, 0.5 tie

    @property
    def scored(self) -> bool:
        return self.unscored_reason is None

    def to_dict(self) -> dict[str, Any]:
        """One judgments.jsonl line."""
        row = {"sample_id": self.sample_id, "model": self.model, "rubric": self.rubric, "repeat": self.repeat,
               "scores": self.scores, "unscored_reason": self.unscored_reason, "raw": self.raw, "usage": self.usage}
        if self.plain_scores is not None:
            row.update(plain_scores=self.plain_scores, weighted=list(self.weighted or ()))
        if self.details is not None:
            row["details"] = self.details
        if self.pair is not None:
            row["pair"] = list(self.pair)
        return row

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Judgment:
        weighted = row.get("weighted")
        return cls(row["sample_id"], row["model"], row["rubric"], dict(row["scores"]), row.get("unscored_reason"),
                   row.get("raw", ""), int(row.get("repeat", 0)), dict(row.get("usage") or {}),
                   row.get("plain_scores"), tuple(weighted) if weighted is not None else None, row.get("details"),
                   tuple(row["pair"]) if row.get("pair") else None)


@dataclass(frozen=True)
class ScoreRow:
    """One model x rubric x criterion: the mean with its 95% interval, n scored and n unscored.

    `better` ("higher" or "lower") comes from the rubric's criterion, so every reader ranks the same way.
    """

    model: str
    rubric: str
    criterion: str
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    ci_method: str
    n: int
    n_unscored: int
    better: Better = Better.HIGHER
    control: bool = False  # a judge control (controls.py), not a model
    # pairwise rubrics (pairwise.py): mean and interval are a Bradley-Terry log-strength, plus the win rate
    # against the baseline model (None for the baseline itself)
    pairwise: bool = False
    win_rate: float | None = None
    win_ci_low: float | None = None
    win_ci_high: float | None = None
    baseline: str | None = None
    n_judgments: int | None = None  # with --repeats: the judgments behind the n samples (None: one each)
    scale: tuple[float, float] | None = None  # the criterion's declared scale: what may be averaged with what

    def to_dict(self) -> dict[str, Any]:
        """One scores.json row."""
        return {"model": self.model, "rubric": self.rubric, "criterion": self.criterion, "mean": self.mean,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "ci_method": self.ci_method, "n": self.n,
                "n_unscored": self.n_unscored, "better": self.better.value,
                **({"control": True} if self.control else {}),
                **({"n_judgments": self.n_judgments} if self.n_judgments is not None else {}),
                **({"scale": list(self.scale)} if self.scale is not None else {}),
                **({"pairwise": True, "win_rate": self.win_rate, "win_ci_low": self.win_ci_low,
                    "win_ci_high": self.win_ci_high, "baseline": self.baseline} if self.pairwise else {})}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> ScoreRow:
        return cls(row["model"], row["rubric"], row["criterion"], row.get("mean"), row.get("ci_low"),
                   row.get("ci_high"), row.get("ci_method", "t"), int(row.get("n", 0)), int(row.get("n_unscored", 0)),
                   Better.of(row.get("better")), bool(row.get("control", False)), bool(row.get("pairwise", False)),
                   row.get("win_rate"), row.get("win_ci_low"), row.get("win_ci_high"), row.get("baseline"),
                   row.get("n_judgments"), tuple(row["scale"]) if isinstance(row.get("scale"), list) else None)
