"""Scores grouped by the unit an analysis works on (a sample, a caption), repeats kept together: the one
place judgments become per-unit numbers, so a comparison, an agreement and the noise table pair alike."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from vlmgrade.core.types import Judgment

Key = Callable[[Judgment], Hashable]


def by_sample(j: Judgment) -> str:
    return j.sample_id


def by_caption(j: Judgment) -> tuple[str, str]:
    return j.model, j.sample_id


def grouped_scores(judgments: Sequence[Judgment], rubric: str, criterion: str, key: Key,
                   model: str | None = None) -> dict[Hashable, list[float]]:
    """The scored values of one criterion per unit (every repeat), in first-seen order; unscored ones drop out."""
    groups: dict[Hashable, list[float]] = {}
    for j in judgments:
        if j.rubric == rubric and (model is None or j.model == model) and j.scores.get(criterion) is not None:
            groups.setdefault(key(j), []).append(j.scores[criterion])
    return groups


def mean_by(judgments: Sequence[Judgment], rubric: str, criterion: str, key: Key,
            model: str | None = None) -> dict[Hashable, float]:
    """The mean score per unit over its scored repeats."""
    return {k: sum(v) / len(v) for k, v in grouped_scores(judgments, rubric, criterion, key, model).items()}


def per_sample_means(judgments: Sequence[Judgment], model: str, rubric: str, criterion: str) -> dict[str, float]:
    """One model's mean score per sample over its scored repeats: what paired tests pair."""
    return mean_by(judgments, rubric, criterion, by_sample, model)  # type: ignore[return-value]
