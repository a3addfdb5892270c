"""The offline grounded judge (version 2): every claim a completion makes, checked against the picture's
annotations (names, colours, sizes, boxes), plus fluency from a word n-gram model.

Per completion (all 0-1):
- `hallucination` (lower is better): share of the distinct object claims (a noun with the colour and
  size the text gives it) that match no object in the picture; saying a claim again changes nothing.
- `coverage`: share of the picture's object kinds, not already named in the given prefix, that the
  completion names.
- `attributes`: share of colour and size claims about objects present that some such object has.
- `relations`: share of position ("on the left") and relation ("behind the box") claims that the boxes
  make true (`geometry`, read leniently).
- `counts`: share of number claims ("two red balls") that match the count.
- `fluency`: see `judges/fluency.py`.
- `grounded`: fluency x (coverage + truth) / 2, where truth = (1 - hallucination) x the mean of the
  attribute, relation and count shares that could be checked; a text with no object claim has truth 0.

A criterion with nothing to check (no colour claim, no box in the annotations, ...) is unscored for
that criterion alone, with its reason in the judgment's details; every claim's verdict is kept there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from vlmgrade.core.types import Caption, Judgment, Sample, SceneObject
from vlmgrade.data.scenes import geometry
from vlmgrade.judges.offline.claims import ObjectClaim, read_claims
from vlmgrade.judges.offline.fluency import fluency
from vlmgrade.judges.protocol import ScoringContext, kept, unscored

if TYPE_CHECKING:
    from vlmgrade.rubrics import Rubric


def _instances(claim: ObjectClaim, objects: Sequence[SceneObject], with_size: bool = True) -> list[SceneObject]:
    return [o for o in objects if o.name == claim.noun and (claim.color is None or o.color == claim.color)
            and (not with_size or claim.size is None or not o.size or o.size == claim.size)]


def _share(verdicts: list[bool]) -> float | None:
    return sum(verdicts) / len(verdicts) if verdicts else None


def check(text: str, prefix: str, objects: tuple[SceneObject, ...]) -> tuple[dict, dict, list[dict]]:
    """(scores, reasons for the unscored criteria, claim verdicts) of a completion."""
    claims = read_claims(text)
    distinct = list(dict.fromkeys(claims.objects))
    verdicts: list[dict] = []
    present = {o.name for o in objects}
    # hallucination: does any object match the noun with its colour and size?
    wrong_objects = [not _instances(c, objects) for c in distinct]
    verdicts += [{"claim": str(c), "kind": "object", "true": not w} for c, w in zip(distinct, wrong_objects)]
    # attributes: colour and size claims about kinds that are there
    attrs = []
    for c in {(c.noun, c.color, c.size) for c in distinct if c.noun in present}:
        noun, color, size = c
        if color is not None:
            ok = any(o.name == noun and o.color == color for o in objects)
            attrs.append(ok)
            verdicts.append({"claim": f"{noun} is {color}", "kind": "colour", "true": ok})
        if size is not None and any(o.size for o in objects if o.name == noun):
            ok = any(o.name == noun and o.size == size and (color is None or o.color == color) for o in objects)
            attrs.append(ok)
            verdicts.append({"claim": f"{noun} is {size}", "kind": "size", "true": ok})
    # relations and positions, from the boxes
    rels = []
    boxed = all(o.box is not None for o in objects)
    if boxed:
        for p in dict.fromkeys(claims.positions):
            inst = _instances(p.obj, objects)
            if inst:
                ok = any(geometry.position_holds(o.box, p.where) for o in inst)
                rels.append(ok)
                verdicts.append({"claim": f"{p.obj} on the {p.where}", "kind": "position", "true": ok})
        for r in dict.fromkeys(claims.relations):
            a, b = _instances(r.a, objects), _instances(r.b, objects)
            if a and b:
                ok = any(x is not y and geometry.relation_holds(x.box, r.relation, y.box) for x in a for y in b)
                rels.append(ok)
                verdicts.append({"claim": f"{r.a} {r.relation} {r.b}", "kind": "relation", "true": ok})
    counts = []
    for c in distinct:
        if c.count is not None:
            ok = len(_instances(c, objects)) == c.count
            counts.append(ok)
            verdicts.append({"claim": str(c), "kind": "count", "true": ok})
    remaining = present - {c.noun for c in read_claims(prefix).objects}
    named = {c.noun for c in distinct}
    scores = {"hallucination": _share(wrong_objects), "attributes": _share(attrs), "relations": _share(rels),
              "counts": _share(counts), "coverage": len(named & remaining) / len(remaining) if remaining else None,
              "fluency": fluency(text, prefix)}
    reasons = {k: why for k, why in (
        ("hallucination", "no object claim"), ("attributes", "no colour or size claim about an object present"),
        ("relations", "no position or relation claim" if boxed else "the annotations have no boxes"),
        ("counts", "no number claim"), ("coverage", "the prefix names every object"),
        ("fluency", "empty completion")) if scores[k] is None}
    checks = [v for v in (scores["attributes"], scores["relations"], scores["counts"]) if v is not None]
    truth = 0.0 if not distinct else (1 - scores["hallucination"]) * (sum(checks) / len(checks) if checks else 1.0)
    coverage = 1.0 if scores["coverage"] is None else scores["coverage"]  # None: nothing was left to name
    scores["grounded"] = (scores["fluency"] or 0.0) * (coverage + truth) / 2
    return scores, reasons, verdicts


def judge(sample: Sample, caption: Caption, rubric: Rubric | None = None) -> Judgment:
    """A Judgment on the rubric's criteria (default: the built-in `grounded` rubric); wholly unscored only
    when the sample has no annotations."""
    rubric = rubric or builtin_rubric()
    if not sample.objects:
        return Judgment(caption.sample_id, caption.model, rubric.name, unscored(rubric),
                        unscored_reason="sample has no object annotations")
    scores, reasons, verdicts = check(caption.text, sample.prefix, sample.objects)
    raw = "; ".join(f"{v['claim']}: {'ok' if v['true'] else 'wrong'}" for v in verdicts)
    return Judgment(caption.sample_id, caption.model, rubric.name, kept(rubric, scores), raw=raw,
                    details={"claims": verdicts, "unscored": reasons})


@lru_cache(maxsize=1)
def builtin_rubric() -> Rubric:
    from vlmgrade.rubrics import load_rubric

    return load_rubric("grounded")


class GroundedScorer:
    """The registry's `grounded` kind."""

    def judge_all(self, rubric: Rubric, samples: Mapping[str, Sample], captions: Sequence[Caption],
                  context: ScoringContext) -> list[Judgment]:
        return [judge(samples[c.sample_id], c, rubric) for c in captions]
