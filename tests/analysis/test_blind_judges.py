"""Controls a blind judge cannot pass (issue 23, item 5): over 200 judges that score without reading (random
seeds), on 40 samples, at most 5% of runs see any criterion pass; a judge that knows the right continuation
passes every criterion."""

from __future__ import annotations

import numpy as np

from vlmgrade.analysis.controls import CONTROLS, sensitivity
from vlmgrade.core.types import Judgment
from vlmgrade.rubrics import load_rubric

SAMPLES = 40
JUDGES = 200


def _judgments(rubric, score) -> list[Judgment]:
    """Every control caption of every sample judged on every criterion by `score(control, sample, criterion)`."""
    return [Judgment(f"s{i}", control, rubric.name, {c.name: score(control, i, c.name) for c in rubric.criteria})
            for i in range(SAMPLES) for control in CONTROLS]


def _passing(rubric, judgments) -> set[str]:
    """The criteria whose every check passes."""
    checks = sensitivity(judgments, [rubric])
    return {c.name for c in rubric.criteria if all(k.passes for k in checks if k.criterion == c.name)}


def test_a_blind_judge_passes_no_criterion_in_more_than_5_percent_of_runs():
    rubric = load_rubric("nanovlm-paper")
    runs_with_a_pass = 0
    for seed in range(JUDGES):
        rng = np.random.default_rng(seed)
        blind = {(control, i, c.name): int(rng.integers(1, 11)) for control in CONTROLS for i in range(SAMPLES)
                 for c in rubric.criteria}
        runs_with_a_pass += bool(_passing(rubric, _judgments(rubric, lambda *key, scores=blind: scores[key])))
    assert runs_with_a_pass / JUDGES <= 0.05, runs_with_a_pass


def test_a_judge_that_knows_the_continuation_passes_every_criterion():
    rubric = load_rubric("nanovlm-paper")
    rng = np.random.default_rng(0)

    def knowing(control: str, sample: int, criterion: str) -> int:  # the reference reads well, the rest do not
        return int(rng.integers(7, 11)) if control == "reference" else int(rng.integers(1, 6))

    assert _passing(rubric, _judgments(rubric, knowing)) == {c.name for c in rubric.criteria}
