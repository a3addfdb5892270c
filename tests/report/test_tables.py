"""Leaderboard tables: an overall mean only where it means something."""

from __future__ import annotations

import pandas as pd

from vlmgrade.report.tables import leaderboard_table


def _row(rubric: str, criterion: str, mean: float, scale: list[float] | None, better: str = "higher") -> dict:
    row = {"model": "m", "run": "r", "rubric": rubric, "criterion": criterion, "mean": mean, "ci_low": mean - 0.01,
           "ci_high": mean + 0.01, "n": 10, "n_unscored": 0, "rank": 1, "better": better}
    return {**row, "scale": scale} if scale else row


def test_the_overall_row_never_averages_unlike_scales_bare():
    """Issue 23, item 3: "overall (references)" was the bare mean of BLEU-4 and ROUGE-L (0-1) and CIDEr-D (0-100)."""
    rows = [_row("references", "bleu4", 0.4, [0, 1]), _row("references", "rouge_l", 0.6, [0, 1]),
            _row("references", "cider_d", 30.0, [0, 100]),
            _row("paper", "grammar", 6.0, [1, 10]), _row("paper", "plot", 8.0, [1, 10]),
            _row("grounded", "hallucination", 0.2, [0, 1], "lower"), _row("grounded", "coverage", 0.5, [0, 1]),
            _row("old", "a", 2.0, None), _row("old", "b", 4.0, None)]
    header, body = leaderboard_table(pd.DataFrame(rows))
    cells = dict(zip(header, body[0]))
    assert cells["overall (references, each rescaled to 0-1)"] == f"{(0.4 + 0.6 + 0.3) / 3:.2f}"  # not 10.33
    assert cells["overall (paper)"] == "7.00"  # one scale: the plain mean
    assert not any(h.startswith(("overall (grounded", "overall (old")) for h in header)  # directions differ; unknown
