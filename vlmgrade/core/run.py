"""`Run`: one run's results, the same type whether `evaluate` built it in memory or `load_run` read it
from a run folder. Analysis reads its records (`rows`, `judgment_records`, `caption_records`); users read
its DataFrames (`scores`, `judgments`, `captions`). Files are read only by report/folder.py, which hands
a Run the loaders of its judgments and captions, so that a leaderboard reads nothing but scores.json."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmgrade.core.types import Caption, Judgment, ScoreRow

if TYPE_CHECKING:
    import pandas as pd

SCORE_COLUMNS = [f.name for f in fields(ScoreRow)]
JUDGMENT_COLUMNS = ["sample_id", "model", "rubric", "repeat", "criterion", "score", "unscored_reason"]
CAPTION_COLUMNS = ["sample_id", "model", "text"]


@dataclass
class Run:
    """`record` is the scores.json (rows, judge, data, rubrics, ...), `info` the run.json."""

    folder: Path
    record: dict
    info: dict = field(default_factory=dict)
    load_judgments: Callable[[], list[Judgment]] = list
    load_captions: Callable[[], list[Caption]] = list
    _judgments: list[Judgment] | None = field(default=None, repr=False)
    _captions: list[Caption] | None = field(default=None, repr=False)

    @classmethod
    def in_memory(cls, folder: Path, record: dict, info: dict, judgments: Sequence[Judgment],
                  captions: Sequence[Caption]) -> Run:
        return cls(folder, record, info, _judgments=list(judgments), _captions=list(captions))

    @property
    def name(self) -> str:
        """What tables call the run: its folder's name."""
        return self.folder.name or str(self.record.get("run", ""))

    @property
    def rows(self) -> list[dict]:
        return self.record.get("rows", [])

    @property
    def models(self) -> list[str]:
        return list(dict.fromkeys(r["model"] for r in self.rows))

    @property
    def judgment_records(self) -> list[Judgment]:
        if self._judgments is None:  # read on first use: a leaderboard needs only scores.json
            self._judgments = self.load_judgments()
        return self._judgments

    @property
    def caption_records(self) -> list[Caption]:
        if self._captions is None:
            self._captions = self.load_captions()
        return self._captions

    @property
    def scores(self) -> pd.DataFrame:
        """Tidy: one row per model x rubric x criterion, every ScoreRow field a column."""
        return scores_frame([ScoreRow.from_dict(r) for r in self.rows])

    @property
    def judgments(self) -> pd.DataFrame:
        """Tidy: one row per judgment and criterion (`score` None where unscored, with the reason)."""
        return judgments_frame(self.judgment_records)

    @property
    def captions(self) -> pd.DataFrame:
        return captions_frame(self.caption_records)


def scores_frame(rows: Sequence[ScoreRow]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([[_plain(getattr(r, c)) for c in SCORE_COLUMNS] for r in rows], columns=SCORE_COLUMNS)


def _plain(value: Any) -> Any:
    """Enum values (Better) as their text: a DataFrame of plain values compares equal across reloads."""
    return value.value if hasattr(value, "value") else value


def judgments_frame(judgments: Sequence[Judgment]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([[j.sample_id, j.model, j.rubric, j.repeat, c, v, _reason(j, c, v)]
                         for j in judgments for c, v in j.scores.items()], columns=JUDGMENT_COLUMNS)


def _reason(j: Judgment, criterion: str, score: float | None) -> str | None:
    """Why a criterion is unscored: the judgment's reason, or the criterion's own (an offline scorer leaves
    a criterion with nothing to check unscored alone, its reason in the details)."""
    if j.unscored_reason or score is not None:
        return j.unscored_reason
    return ((j.details or {}).get("unscored") or {}).get(criterion)


def captions_frame(captions: Sequence[Caption]) -> pd.DataFrame:
    import pandas as pd

    return pd.DataFrame([[c.sample_id, c.model, c.text] for c in captions], columns=CAPTION_COLUMNS)
