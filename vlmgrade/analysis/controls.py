"""Judge controls: completions of known quality, judged beside the models, that show whether the judge
discriminates at all.

For each sample (or the first `--controls-limit`):
- `reference`: the sample's own reference text after the given prefix (the upper anchor);
- `shuffled`: the same words in a seeded random order (breaks grammar and sense);
- `other`: the reference continuation of another sample (fluent, but about another picture);
- `empty`: an empty completion;
- `constant`: one picture-blind text for every sample, naming every scene kind (`judges/offline/baselines.py`).
Every criterion must grade `reference` above `shuffled`; a criterion whose rubric lists `other` in its
`controls` (those about agreeing with the beginning or the picture) must grade it above `other` too.
"Above" is a paired difference in the criterion's better direction whose 95% interval excludes 0 with a
Wilcoxon p below 0.05; a criterion that fails is flagged "the judge does not discriminate on X".

With a judge that reads the picture (grounded), each model also captions every picture swapped with
another sample's (`MODEL@rotated`, judged against the sample the prefix belongs to), and `model_checks`
asks of each model, on each such rubric's headline criterion: does it beat the constant text, and does
it beat its own rotated-picture captions (does it use the picture at all)?
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vlmgrade.analysis.grouping import per_sample_means
from vlmgrade.analysis.stats import holm, paired_difference
from vlmgrade.core.types import Caption, Judgment, Sample
from vlmgrade.data.scenes.baselines import constant_text

if TYPE_CHECKING:
    from vlmgrade.rubrics import Rubric

CONTROLS = ("reference", "shuffled", "other", "empty", "constant")
ROTATED = "@rotated"  # a model's captions of rotated pictures carry its label and this suffix


def is_control(model: str) -> bool:
    return model in CONTROLS or model.endswith(ROTATED)


def rotated(samples: list[Sample]) -> list[Sample]:
    """Each sample with another sample's picture (half the list away), its own prefix and id: what a
    model writes here shows how much of its score the picture earns."""
    n = len(samples)
    shift = max(1, n // 2)
    return [replace(s, image=samples[(i + shift) % n].image) for i, s in enumerate(samples)] if n > 1 else []


def words_after(text: str, prefix: str) -> str:
    """`text` without as many leading words as `prefix` has: how `text` would complete that prefix."""
    return " ".join(text.split()[len(prefix.split()):])


def continuation(sample: Sample) -> str:
    """The reference's words after the prefix's: what a perfect completion would be."""
    return words_after(sample.references[0], sample.prefix) if sample.references else ""


def control_captions(samples: list[Sample], seed: int = 0, limit: int | None = None) -> list[Caption]:
    chosen = [s for s in samples if s.references][:limit]
    out = []
    for i, s in enumerate(chosen):
        words = continuation(s).split()
        random.Random(f"controls/{seed}/{s.id}").shuffle(words)
        other = chosen[(i + 1 + len(chosen) // 2) % len(chosen)] if len(chosen) > 1 else s
        out += [Caption(s.id, "reference", continuation(s)), Caption(s.id, "shuffled", " ".join(words)),
                Caption(s.id, "other", continuation(other)), Caption(s.id, "empty", ""),
                Caption(s.id, "constant", constant_text())]
    return out


@dataclass(frozen=True)
class Check:
    """Reference minus one control on one criterion, in the criterion's better direction."""

    rubric: str
    criterion: str
    control: str
    n: int
    diff: float | None  # reference - control, sign flipped for lower-is-better criteria
    ci_low: float | None
    ci_high: float | None
    p: float | None
    p_holm: float | None = None  # Holm-adjusted across every check of the rubric (its criteria x controls)

    @property
    def passes(self) -> bool:
        """The reference beats this control: a positive interval, and significant after Holm across the
        rubric's checks (a blind judge tested on many criteria would otherwise pass one by chance)."""
        return self.ci_low is not None and self.ci_low > 0 and self.p_holm is not None and self.p_holm < 0.05

    def to_dict(self) -> dict:
        return {"rubric": self.rubric, "criterion": self.criterion, "control": self.control, "n": self.n,
                "diff": self.diff, "ci_low": self.ci_low, "ci_high": self.ci_high, "p": self.p,
                "p_holm": self.p_holm, "passes": self.passes}


def sensitivity(judgments: list[Judgment], rubrics: Sequence[Rubric]) -> list[Check]:
    """Reference minus each control a criterion must beat, per criterion; a criterion passes only when it
    beats every one of its controls after Holm across all of the rubric's checks."""
    checks = []
    for rubric in rubrics:
        mine = []
        for c in rubric.criteria:
            sign = c.better.sign
            ref = per_sample_means(judgments, "reference", rubric.name, c.name)
            for control in c.controls:
                other = per_sample_means(judgments, control, rubric.name, c.name)
                both = sorted(set(ref) & set(other))
                res = paired_difference([sign * ref[s] for s in both], [sign * other[s] for s in both],
                                        span=c.hi - c.lo)
                mine.append(Check(rubric.name, c.name, control, res.n, res.diff, res.ci_low, res.ci_high, res.p))
        checks += [replace(c, p_holm=a) for c, a in zip(mine, holm([c.p for c in mine]))]
    return checks


def flags(checks: list[Check]) -> list[str]:
    """One line per criterion whose judge did not separate the reference from a control it must beat,
    with the evidence (too few pairs reads as such: n is on the line)."""
    from vlmgrade.core.fmt import interval, num, pvalue

    failed: dict[tuple[str, str], list[Check]] = {}
    for c in checks:
        if not c.passes:
            failed.setdefault((c.rubric, c.criterion), []).append(c)
    return [f"the judge does not discriminate on {criterion} ({rubric}: " + "; ".join(
        f"reference - {c.control} {num(c.diff, 3)} {interval(c.ci_low, c.ci_high, 3)}, p {pvalue(c.p)}, n={c.n}"
        for c in group) + ")" for (rubric, criterion), group in failed.items()]


@dataclass(frozen=True)
class ModelCheck:
    """A model against a picture-blind baseline on one criterion: the paired difference over samples, in
    the criterion's better direction. `against` is "constant" or "rotated" (its own rotated-picture run)."""

    rubric: str
    criterion: str
    model: str
    against: str
    n: int
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    p: float | None
    p_holm: float | None = None

    @property
    def passes(self) -> bool:
        return self.ci_low is not None and self.ci_low > 0 and self.p_holm is not None and self.p_holm < 0.05

    def line(self) -> str:
        """The verdict in words, with its evidence."""
        from vlmgrade.core.fmt import interval, num, pvalue

        evidence = (f"{self.model} - {'constant text' if self.against == 'constant' else 'rotated pictures'} "
                    f"{num(self.diff, 3)} {interval(self.ci_low, self.ci_high, 3)}, Holm p {pvalue(self.p_holm)}, "
                    f"n={self.n}")
        if self.against == "constant":
            verdict = "beats the constant text" if self.passes else "does NOT beat the constant text"
        else:
            verdict = "uses the picture" if self.passes else "does NOT use the picture"
        return f"{self.model} {verdict} on {self.criterion} ({self.rubric}: {evidence})"

    def to_dict(self) -> dict:
        return {"rubric": self.rubric, "criterion": self.criterion, "model": self.model, "against": self.against,
                "n": self.n, "diff": self.diff, "ci_low": self.ci_low, "ci_high": self.ci_high, "p": self.p,
                "p_holm": self.p_holm, "passes": self.passes, "line": self.line()}


def model_checks(judgments: list[Judgment], rubrics: Sequence[Rubric], models: Sequence[str]) -> list[ModelCheck]:
    """Each model against the constant text and against its own rotated-picture captions, on the headline
    (first) criterion of every rubric that has either; Holm across all of these checks."""
    checks = []
    for rubric in rubrics:
        c = rubric.criteria[0]
        sign = c.better.sign
        for model in models:
            mine = per_sample_means(judgments, model, rubric.name, c.name)
            for against, label in (("constant", "constant"), ("rotated", model + ROTATED)):
                other = per_sample_means(judgments, label, rubric.name, c.name)
                both = sorted(set(mine) & set(other))
                if not both:
                    continue
                res = paired_difference([sign * mine[s] for s in both], [sign * other[s] for s in both],
                                        span=c.hi - c.lo)
                checks.append(ModelCheck(rubric.name, c.name, model, against, res.n, res.diff, res.ci_low,
                                         res.ci_high, res.p))
    return [replace(c, p_holm=a) for c, a in zip(checks, holm([c.p for c in checks]))]
