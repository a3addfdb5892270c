"""True plain-English completions of scene pictures, from the hand-written phrasings in
plain_english.yaml: the check that the grounded judge reads text it was not built from.

`true_sentence(group, phrasing, objects, rng)` fills one phrasing from a picture's annotations so that it
is true of that picture, or returns None when the picture has nothing that phrasing can say (no object
on the left, no two objects in that relation, ...). `plain_listing` names every object plainly.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import yaml

from vlmgrade.core.types import SceneObject
from vlmgrade.data.scenes import geometry
from vlmgrade.data.scenes import layout as scenes

NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}
PLAIN_SIZES = {"small": ("little", "small", "tiny"), "big": ("large", "big", "huge")}


@lru_cache(maxsize=1)
def phrasings() -> list[tuple[str, str, str]]:
    """(group, relation or '', phrasing) for every hand-written phrasing."""
    raw = yaml.safe_load(Path(__file__).with_name("plain_english.yaml").read_text())
    out = []
    for group, entries in raw.items():
        if isinstance(entries, dict):
            out += [(group, rel, p) for rel, items in entries.items() for p in items]
        else:
            out += [(group, "", p) for p in entries]
    return out


def _a(words: str) -> str:
    return ("an " if words[0] in "aeiou" else "a ") + words


def plain_np(o: SceneObject, det: str, rng: random.Random) -> str:
    size = [rng.choice(PLAIN_SIZES[o.size])] if o.size and rng.random() < 0.5 else []
    words = " ".join([*size, o.color, o.name])
    return _a(words) if det == "a" else f"{det} {words}"


def plain_listing(objects: Sequence[SceneObject], rng: random.Random) -> str:
    """Every object, grouped by kind and colour: 'a red ball, two blue cups and a large dog'."""
    groups: dict[tuple[str, str], list[SceneObject]] = {}
    for o in objects:
        groups.setdefault((o.name, o.color), []).append(o)
    parts = [plain_np(g[0], "a", rng) if len(g) == 1 else f"{NUMBERS[len(g)]} {g[0].color} {scenes.PLURALS[g[0].name]}"
             for g in groups.values()]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _unique(objects: Sequence[SceneObject]) -> list[SceneObject]:
    return [o for o in objects if sum((p.name, p.color) == (o.name, o.color) for p in objects) == 1]


def sentence_rest(reference: str, prefix: str) -> str:
    """The rest of the sentence the prefix began, as the reference says it ('' when the prefix ended one):
    a probe completion starts with it, so that it reads on from the prefix like a real completion."""
    from vlmgrade.analysis.controls import words_after

    rest = words_after(reference, prefix)
    cut = min((rest.find(p) for p in ".!?" if p in rest), default=-1)
    return rest[:cut + 1] if cut >= 0 else ""


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def true_sentence(group: str, relation: str, phrasing: str, objects: Sequence[SceneObject],
                  rng: random.Random) -> str | None:
    """The phrasing filled so that it is true of the picture, or None when it cannot be."""
    unique = _unique(objects)
    kinds = {o.name for o in objects}
    absent = sorted(set(scenes.KINDS) - kinds)
    slots: dict[str, str] = {}
    if group == "listing":
        slots["list"] = plain_listing(objects, rng)
    elif group in ("position", "middle"):
        wanted = ("middle",) if group == "middle" else ("left", "right")
        fits = [o for o in unique if o.position in wanted]
        if not fits:
            return None
        o = rng.choice(fits)
        slots.update(np=plain_np(o, "the", rng), where=o.position)
    elif group == "relation":
        pairs = [(a, b) for a in unique for b in unique
                 if a is not b and geometry.relation_holds(a.box, relation, b.box, clearly=True)]
        if not pairs:
            return None
        a, b = rng.choice(pairs)
        slots.update(A=plain_np(a, "the", rng), B=plain_np(b, "the", rng))
    elif group == "count":
        fits = [k for k in kinds if sum(o.name == k for o in objects) >= 2]
        if not fits:
            return None
        kind = rng.choice(sorted(fits))
        members = [o for o in objects if o.name == kind]
        slots.update(n=NUMBERS[len(members)], plural=scenes.PLURALS[kind], color=rng.choice(members).color)
    elif group == "attribute":
        fits = [o for o in objects if sum(p.name == o.name for p in objects) == 1]
        if not fits:
            return None
        o = rng.choice(fits)
        slots.update(noun=o.name, color=o.color, size=rng.choice(PLAIN_SIZES[o.size]))
    elif group in ("negation", "hedge"):
        kind = rng.choice(absent)
        slots.update(absent=kind, absents=scenes.PLURALS[kind], present=rng.choice(sorted(kinds)))
    else:
        raise ValueError(f"unknown phrasing group {group!r}")
    text = phrasing.format(**slots)
    return _cap(text)
