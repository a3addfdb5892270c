"""Claims a text makes about a picture: which objects (with colour, size and number), where they are,
and how they stand to each other. The grounded judge checks each claim against the annotations.

The reader knows a broad noun list (COCO's 80 categories, the built-in scene kinds, common synonyms
and plurals), so an invented object is a claim like any other, and reads the phrases a small child's
description uses: "two red balls", "the cup is big and blue", "the dog sits on the left", "next to
the box is a cat", "the ball is on top of the drum".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vlmgrade.data.scenes import layout as scenes
from vlmgrade.data.scenes.drawing import COLORS
from vlmgrade.data.scenes.geometry import RELATIONS

# COCO's 80 categories (one word each, as a child would say them), then synonyms a text may use.
COCO = ("person bicycle car motorcycle airplane bus train truck boat traffic_light fire_hydrant stop_sign "
        "parking_meter bench bird cat dog horse sheep cow elephant bear zebra giraffe backpack umbrella handbag "
        "tie suitcase frisbee skis snowboard sports_ball kite baseball_bat baseball_glove skateboard surfboard "
        "tennis_racket bottle wine_glass cup fork knife spoon bowl banana apple sandwich broccoli carrot "
        "hot_dog pizza donut cake chair couch potted_plant bed dining_table toilet tv laptop mouse remote keyboard "
        "cell_phone microwave oven toaster sink refrigerator book clock vase scissors teddy_bear hair_drier "
        "toothbrush").split()  # "orange" the fruit is left out: here it is a colour
SYNONYMS = {
    "bicycle": "bike", "bicycles": "bike", "bikes": "bike", "airplane": "plane", "aeroplane": "plane",
    "jet": "plane", "puppy": "dog", "doggy": "dog", "kitten": "cat", "kitty": "cat", "car": "car", "auto": "car",
    "teddy_bear": "teddy", "teddy": "teddy", "sports_ball": "ball", "bunny": "rabbit", "boy": "person",
    "girl": "person",
    "man": "person", "woman": "person", "men": "person", "women": "person", "kid": "person", "child": "person",
    "children": "person", "baby": "person", "people": "person", "lady": "person", "motorbike": "motorcycle",
    "sofa": "couch", "television": "tv", "phone": "cell_phone", "doughnut": "donut", "table": "dining_table",
    "plant": "potted_plant", "ship": "boat", "lorry": "truck", "stone": "rock", "cupcake": "cake",
    "mug": "cup", "present": "box", "gift": "box", "balloon": "balloon", "doll": "doll", "block": "block",
    "rabbit": "rabbit", "pig": "pig", "chicken": "chicken", "hen": "chicken", "mouse": "mouse", "lion": "lion",
    "monkey": "monkey", "horse": "horse", "cow": "cow", "sheep": "sheep", "train": "train", "robot": "robot",
}
NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
SIZE_WORDS = {"small": "small", "little": "small", "tiny": "small", "big": "big", "large": "big", "huge": "big"}
COLOR_WORDS = set(COLORS) | {"gray", "grey", "gold", "silver"}
FILLERS = {"very", "so", "really", "and", "too", "all", "quite"}
POSITION_PHRASES = {"on the left side": "left", "on the left": "left", "at the left": "left",
                    "in the middle": "middle", "in the center": "middle", "on the right side": "right",
                    "on the right": "right", "at the right": "right"}
RELATION_PHRASES = {"to the left of": "left of", "left of": "left of", "to the right of": "right of",
                    "right of": "right of", "next to": "next to", "beside": "next to", "on top of": "on top of",
                    "under": "under", "below": "under", "underneath": "under", "in front of": "in front of",
                    "behind": "behind"}
assert set(RELATION_PHRASES.values()) == set(RELATIONS)
_TOKEN = re.compile(r"[a-z]+|\d+|[.,!?;]")


def _noun_table() -> dict[str, str]:
    """Every surface form (singular, plural, synonym; two-word names joined by _) -> canonical noun."""
    table: dict[str, str] = {}
    for noun in (*COCO, *scenes.KINDS):
        table[noun] = SYNONYMS.get(noun, noun)
    table.update(SYNONYMS)
    for form, canon in list(table.items()):
        for plural in (form + "s", form + "es", (form[:-1] + "ies") if form.endswith("y") else None):
            if plural and plural not in table:
                table[plural] = canon
    table.update({p: k for k, p in scenes.PLURALS.items()})
    table["fish"] = "fish"
    return table


NOUNS = _noun_table()
TWO_WORD = {tuple(k.split("_")) for k in NOUNS if "_" in k}


@dataclass(frozen=True)
class ObjectClaim:
    """'two big red balls': noun with the colour, size and number the text gives (None where it gives none)."""

    noun: str
    color: str | None = None
    size: str | None = None
    count: int | None = None

    def __str__(self) -> str:
        words = [str(self.count) if self.count else "", self.size or "", self.color or "", self.noun]
        return " ".join(w for w in words if w)


@dataclass(frozen=True)
class PositionClaim:
    obj: ObjectClaim
    where: str  # left, middle, right


@dataclass(frozen=True)
class RelationClaim:
    a: ObjectClaim
    relation: str  # one of geometry.RELATIONS
    b: ObjectClaim


@dataclass
class _Phrase:
    start: int  # token index of the first word (determiner excluded)
    end: int  # token index just past the noun
    claim: ObjectClaim


@dataclass(frozen=True)
class Claims:
    objects: tuple[ObjectClaim, ...]
    positions: tuple[PositionClaim, ...]
    relations: tuple[RelationClaim, ...]


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _sentences(toks: list[str]) -> list[list[str]]:
    out, cur = [], []
    for t in toks:
        if t in ".!?;":
            if cur:
                out.append(cur)
            cur = []
        else:
            cur.append(t)
    return out + ([cur] if cur else [])


def _phrases(sent: list[str]) -> list[_Phrase]:
    """Noun phrases: a known noun and the colour, size and number words right before it."""
    found = []
    i = 0
    while i < len(sent):
        two = tuple(sent[i:i + 2])
        if two in TWO_WORD:
            noun, end = NOUNS["_".join(two)], i + 2
        elif sent[i] in NOUNS and sent[i] != "orange":
            noun, end = NOUNS[sent[i]], i + 1
        else:
            i += 1
            continue
        color = size = count = None
        j = i - 1
        while j >= 0 and (sent[j] in COLOR_WORDS or sent[j] in SIZE_WORDS or sent[j] in NUMBER_WORDS
                          or sent[j].isdigit()):
            w = sent[j]
            if w in COLOR_WORDS:
                color = color or ("gray" if w == "grey" else w)
            elif w in SIZE_WORDS:
                size = size or SIZE_WORDS[w]
            else:
                count = count or (NUMBER_WORDS.get(w) or int(w))
            j -= 1
        color, size = _predicate(sent, end, color, size)
        found.append(_Phrase(j + 1, end, ObjectClaim(noun, color, size, count)))
        i = end
    return found


def _predicate(sent: list[str], end: int, color: str | None, size: str | None) -> tuple[str | None, str | None]:
    """'the cup is big and blue': colour and size words after is/are/looks join the noun's claim."""
    if end >= len(sent) or sent[end] not in ("is", "are", "looks", "look"):
        return color, size
    for w in sent[end + 1:end + 6]:
        if w in COLOR_WORDS:
            color = color or ("gray" if w == "grey" else w)
        elif w in SIZE_WORDS:
            size = size or SIZE_WORDS[w]
        elif w not in FILLERS:
            break
    return color, size


def _match(sent: list[str], i: int, table: dict[str, str]) -> tuple[int, str] | None:
    for phrase in sorted(table, key=lambda p: -len(p.split())):
        words = phrase.split()
        if sent[i:i + len(words)] == words:
            return len(words), table[phrase]
    return None


def _subject_before(phrases: list[_Phrase], at: int, sent: list[str]) -> _Phrase | None:
    """The noun phrase a predicate belongs to: the last one before it, at most three words away."""
    before = [p for p in phrases if p.end <= at]
    if before and at - before[-1].end <= 3 and "," not in sent[before[-1].end:at]:
        return before[-1]
    return None


def read_claims(text: str) -> Claims:
    objects: list[ObjectClaim] = []
    positions: list[PositionClaim] = []
    relations: list[RelationClaim] = []
    for sent in _sentences(tokens(text)):
        phrases = _phrases(sent)
        objects += [p.claim for p in phrases]
        i = 0
        while i < len(sent):
            rel = _match(sent, i, RELATION_PHRASES)
            pos = None if rel else _match(sent, i, POSITION_PHRASES)
            if not (rel or pos):
                i += 1
                continue
            length, value = rel or pos
            after = [p for p in phrases if p.start >= i + length]
            subject = _subject_before(phrases, i, sent)
            if rel and after and after[0].start - (i + length) <= 1:
                other = after[0]
                subject = subject or next((p for p in after[1:]), None)  # fronted: "next to the box is a cat"
                if subject is not None:
                    relations.append(RelationClaim(subject.claim, value, other.claim))
            elif pos:
                subject = subject or (after[0] if after else None)  # fronted: "on the left, there is a dog"
                if subject is not None:
                    positions.append(PositionClaim(subject.claim, value))
            i += length
    return Claims(tuple(objects), tuple(positions), tuple(relations))
