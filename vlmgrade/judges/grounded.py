"""The offline grounded judge: checks a text's object mentions against the sample's annotations.

- `hallucination` (the CHAIR idea): share of object mentions that name an object absent from the picture,
  or give a present object a colour it does not have. Lower is better.
- `coverage`: share of the picture's annotated objects that the text names. Higher is better.

Deterministic, needs no network, and only understands the words it knows: the object names of the
annotations plus the built-in scenes' kinds (read from `scenes`), and plain colour words. A text
with no object mention has no hallucination score (unscored, with a reason) rather than a perfect one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vlmgrade import scenes
from vlmgrade.types import Caption, Judgment, Sample, SceneObject

CRITERIA = ("hallucination", "coverage")
# The built-in scenes' own words (taken from the dataset, never copied), plus colours any manifest may use.
COLOR_WORDS = set(scenes.COLORS) | {"pink", "black", "white", "brown", "grey", "gray"}
SCENE_NOUNS = set(scenes.KINDS)
# Words allowed between "is" and a predicate colour: "the cup is small and blue", "the kite is very red".
_PREDICATE_FILLERS = {"very", "so", "big", "small", "little", "and", "really", "all"}
_TOKEN = re.compile(r"[a-z]+|[.,!?;]")
_BOUNDARY = {".", ",", "!", "?", ";", "and", "with"}


@dataclass(frozen=True)
class Mention:
    word: str  # the object name as annotated ("box" for "boxes")
    color: str | None  # the colour the text gives it, if any
    verdict: str  # "ok", "absent" (no such object) or "wrong_color"


@dataclass(frozen=True)
class GroundedScore:
    hallucination: float | None
    coverage: float
    mentions: tuple[Mention, ...]

    @property
    def absent(self) -> int:
        return sum(m.verdict == "absent" for m in self.mentions)

    @property
    def wrong_color(self) -> int:
        return sum(m.verdict == "wrong_color" for m in self.mentions)


def _singular(word: str, nouns: set[str]) -> str | None:
    if word in nouns:
        return word
    for cut in ("es", "s"):
        if word.endswith(cut) and word[: -len(cut)] in nouns:
            return word[: -len(cut)]
    return None


def find_mentions(text: str, nouns: set[str]) -> list[tuple[str, str | None]]:
    """Object mentions in order, each with the colour the text attaches to it (before it, or after 'is')."""
    tokens = _TOKEN.findall(text.lower())
    found = []
    for i, tok in enumerate(tokens):
        name = _singular(tok, nouns)
        if name is None:
            continue
        color = None
        for back in tokens[max(0, i - 3):i][::-1]:  # attributive: "a big red ball"
            if back in _BOUNDARY or _singular(back, nouns):
                break
            if back in COLOR_WORDS:
                color = back
                break
        if color is None:
            color = _predicate_color(tokens, i + 1, nouns)
        found.append((name, color))
    return found


def _predicate_color(tokens: list[str], start: int, nouns: set[str]) -> str | None:
    """'the hat in the middle is purple': up to four words to 'is', then fillers, then a colour."""
    j = start
    while j < len(tokens) and j - start < 4 and tokens[j] != "is":
        if tokens[j] in _BOUNDARY or _singular(tokens[j], nouns):
            return None
        j += 1
    if j >= len(tokens) or tokens[j] != "is":
        return None
    for tok in tokens[j + 1:j + 5]:
        if tok in COLOR_WORDS:
            return tok
        if tok not in _PREDICATE_FILLERS:
            return None
    return None


def score_text(text: str, objects: tuple[SceneObject, ...] | list[SceneObject]) -> GroundedScore:
    nouns = SCENE_NOUNS | {o.name.lower() for o in objects}
    present: dict[str, set[str]] = {}
    for o in objects:
        present.setdefault(o.name.lower(), set()).add(o.color.lower())
    mentions = []
    for name, color in find_mentions(text, nouns):
        if name not in present:
            verdict = "absent"
        elif color is not None and color not in present[name]:
            verdict = "wrong_color"
        else:
            verdict = "ok"
        mentions.append(Mention(name, color, verdict))
    bad = sum(m.verdict != "ok" for m in mentions)
    hallucination = bad / len(mentions) if mentions else None
    named = {m.word for m in mentions}
    coverage = len(named & set(present)) / len(present) if present else 0.0
    return GroundedScore(hallucination, coverage, tuple(mentions))


def judge(sample: Sample, caption: Caption, rubric: str = "grounded") -> Judgment:
    """A Judgment on the grounded criteria; unscored (with a reason) when it cannot say anything."""
    if not sample.objects:
        return Judgment(caption.sample_id, caption.model, rubric, {c: None for c in CRITERIA},
                        unscored_reason="sample has no object annotations")
    result = score_text(caption.text, sample.objects)
    raw = "; ".join(f"{m.color or '-'} {m.word}: {m.verdict}" for m in result.mentions)
    if result.hallucination is None:
        return Judgment(caption.sample_id, caption.model, rubric, {"hallucination": None, "coverage": result.coverage},
                        unscored_reason="text mentions no known object", raw=raw)
    return Judgment(caption.sample_id, caption.model, rubric,
                    {"hallucination": result.hallucination, "coverage": result.coverage}, raw=raw)
