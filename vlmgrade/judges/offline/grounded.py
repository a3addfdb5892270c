"""The offline grounded judge (version 3): every atomic claim a completion makes (`claims.py`), checked
against the picture's annotations (names, colours, sizes, boxes).

Per completion (all 0-1):
- `precision`: true claims over all claims, pooled across kinds (objects, positions, relations); a claim
  made twice counts once. A negated or either-or claim counts only when it is false: "there is no
  giraffe" is true of nearly every picture, and a text padded with such truths must not buy precision.
- `hallucination` (lower is better): share of the distinct objects the text says are there (with the
  colour and size it gives them) that match no object in the picture.
- `coverage`: share of the picture's object kinds, not named in the prefix, that a true claim names.
- `grounded`: the F1 of precision and coverage (precision alone when the prefix named every kind); 0 for a
  completion with no claim, and 0 for degenerate text (`fluency.py`), with the reason in the details.
  Saying a true claim again earns nothing: claims are counted once.
- Side figures: `attributes` (colour and size claims about kinds that are there), `relations` (position
  and relation claims), `counts` (number claims), and `fluency`, reported beside, never multiplied in.

A criterion with nothing to check is unscored for that criterion alone, with its reason in the
judgment's details; every claim's verdict is kept there. A completion over MAX_WORDS words is judged on
its first MAX_WORDS, and the details say so: the judge's work is linear in the text it reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from vlmgrade.core.types import Caption, Judgment, Sample, SceneObject
from vlmgrade.data.scenes import geometry
from vlmgrade.judges.offline.claims import Claim, ObjectClaim, named_kinds, read_sentences
from vlmgrade.judges.offline.fluency import fluency
from vlmgrade.judges.protocol import ScoringContext, kept, unscored

if TYPE_CHECKING:
    from vlmgrade.rubrics import Rubric

MAX_WORDS = 2000


def _instances(obj: ObjectClaim, objects: Sequence[SceneObject]) -> list[SceneObject]:
    return [o for o in objects if o.name == obj.noun and (obj.color is None or o.color == obj.color)
            and (obj.size is None or not o.size or o.size == obj.size)]


def _there(obj: ObjectClaim, objects: Sequence[SceneObject]) -> list[SceneObject]:
    """The objects a mention picks out, or [] when the text's number for them is wrong."""
    found = _instances(obj, objects)
    return found if found and (obj.count is None or len(found) == obj.count) else []


def holds(claim: Claim, objects: Sequence[SceneObject]) -> bool | None:
    """Whether the claim is true of the picture; None when it needs boxes the annotations lack."""
    if claim.kind in ("position", "relation") and any(o.box is None for o in objects):
        return None
    if claim.kind == "object":
        true = bool(_there(claim.objects[0], objects))
    elif claim.kind == "either":
        true = any(_there(o, objects) for o in claim.objects)
    elif claim.kind == "position":
        true = any(geometry.position_holds(o.box, claim.value) for o in _there(claim.objects[0], objects))
    else:
        a, b = (_there(o, objects) for o in claim.objects)
        true = any(x is not y and geometry.relation_holds(x.box, claim.value, y.box) for x in a for y in b)
    return true != claim.negated


def _counted(claim: Claim, truth: bool) -> bool:
    """Whether a checked claim enters precision: every plain claim; a negated or either-or one only when
    it is false (its truth is nearly free, its falsehood is a real error)."""
    return not (claim.negated or claim.kind == "either") or not truth


def _share(verdicts: list[bool]) -> float | None:
    return sum(verdicts) / len(verdicts) if verdicts else None


def _f1(precision: float | None, coverage: float | None) -> float:
    if precision is None:
        return 0.0
    if coverage is None:
        return precision
    return 2 * precision * coverage / (precision + coverage) if precision + coverage else 0.0


def _side_figures(claims: list[Claim], truth: dict[Claim, bool | None], objects: Sequence[SceneObject]) -> dict:
    """hallucination, attributes, relations and counts: shares over the kinds of claim they name."""
    said = [c for c in claims if not c.negated and c.kind != "either"]
    mentions = list(dict.fromkeys(o for c in said for o in c.objects))
    present = {o.name for o in objects}
    attrs = []
    for m in mentions:
        if m.noun in present and m.color is not None:
            attrs.append(any(o.name == m.noun and o.color == m.color for o in objects))
        if m.noun in present and m.size is not None and any(o.size for o in objects if o.name == m.noun):
            attrs.append(bool(_instances(m, objects)))
    return {"hallucination": _share([not _instances(m, objects) for m in mentions]),
            "attributes": _share(attrs),
            "relations": _share([truth[c] for c in said if c.kind in ("position", "relation")
                                 and truth[c] is not None]),
            "counts": _share([len(_instances(m, objects)) == m.count for m in mentions if m.count is not None])}


def check(text: str, prefix: str, objects: tuple[SceneObject, ...]) -> tuple[dict, dict, list[dict]]:
    """(scores, reasons for the unscored criteria, claim verdicts) of a completion."""
    words = text.split()
    notes = {}
    if len(words) > MAX_WORDS:
        text = " ".join(words[:MAX_WORDS])
        notes["truncated"] = f"judged on the first {MAX_WORDS} of {len(words)} words"
    sentences = read_sentences(text, prefix)
    claims = list(dict.fromkeys(c for sentence in sentences for c in sentence))
    truth = {c: holds(c, objects) for c in claims}
    checked = [c for c in claims if truth[c] is not None]
    counted = [c for c in checked if _counted(c, truth[c])]
    verdicts = [{"claim": str(c), "kind": c.kind, "true": truth[c]} for c in claims]
    remaining = {o.name for o in objects} - named_kinds(prefix)
    covered = {o.noun for c in checked if truth[c] and not c.negated
               for o in (c.objects if c.kind != "either" else ())} | {
        c.objects[0].noun for c in checked if c.kind == "either" and truth[c] and not c.negated
        and len({o.noun for o in c.objects}) == 1}  # 'a red or a blue ball' names the ball; 'a ball or a cup' neither
    fluent, degenerate = fluency(text, prefix)
    scores = {"precision": _share([bool(truth[c]) for c in counted]),
              **_side_figures(claims, truth, objects),
              "coverage": len(covered & remaining) / len(remaining) if remaining else None, "fluency": fluent}
    scores["grounded"] = 0.0 if degenerate else _f1(scores["precision"], scores["coverage"])
    boxed = all(o.box is not None for o in objects)
    reasons = {k: why for k, why in (
        ("precision", "no claim that counts (a true negation or either-or claim does not)" if checked else "no claim"),
        ("hallucination", "no object said to be there"),
        ("attributes", "no colour or size claim about an object present"),
        ("relations", "no position or relation claim" if boxed else "the annotations have no boxes"),
        ("counts", "no number claim"), ("coverage", "the prefix names every object"),
        ("fluency", "empty completion")) if scores[k] is None}
    if degenerate:
        notes["grounded"] = degenerate
    return scores, {**reasons, **notes}, verdicts


def judge(sample: Sample, caption: Caption, rubric: Rubric | None = None) -> Judgment:
    """A Judgment on the rubric's criteria (default: the built-in `grounded` rubric); wholly unscored only
    when the sample has no annotations."""
    rubric = rubric or builtin_rubric()
    if not sample.objects:
        return Judgment(caption.sample_id, caption.model, rubric.name, unscored(rubric),
                        unscored_reason="sample has no object annotations")
    scores, reasons, verdicts = check(caption.text, sample.prefix, sample.objects)
    # a criterion left unscored says why; a scored one may carry a note (degenerate text scored 0, a long text cut)
    notes = {k: v for k, v in reasons.items() if scores.get(k) is not None or k not in scores}
    reasons = {k: v for k, v in reasons.items() if k not in notes}
    raw = "; ".join(f"{v['claim']}: {'unchecked' if v['true'] is None else 'ok' if v['true'] else 'wrong'}"
                    for v in verdicts)
    return Judgment(caption.sample_id, caption.model, rubric.name, kept(rubric, scores), raw=raw,
                    details={"claims": verdicts, "unscored": reasons, **({"notes": notes} if notes else {})})


@lru_cache(maxsize=1)
def builtin_rubric() -> Rubric:
    from vlmgrade.rubrics import load_rubric

    return load_rubric("grounded")


class GroundedScorer:
    """The registry's `grounded` kind."""

    def judge_all(self, rubric: Rubric, samples: Mapping[str, Sample], captions: Sequence[Caption],
                  context: ScoringContext) -> list[Judgment]:
        return [judge(samples[c.sample_id], c, rubric) for c in captions]
