"""The atomic claims a text makes about a picture, read in one left-to-right pass.

A claim is one thing that is true or false of the picture:
- `object`: "two big red balls", "a cup" - there is such an object (exactly that many, when a number is given);
- `position`: "the red ball is on the left" - such an object is there, in that third of the picture;
- `relation`: "the cat sits next to the box" - both objects are there and stand so to each other;
- any of them `negated`: "there is no dog", "I do not see a cat", "the cup is not blue";
- `either`: "maybe a ball or a cup" - the disjunction the text states, true when one option is.
An object named only as part of a position or relation claim is not a claim of its own: "the red ball is
behind the cup" is one claim, false when either object is missing or the relation does not hold.

The reader knows a broad noun list (COCO's 80 categories, the built-in scene kinds, common synonyms and
plurals), so an invented object is a claim like any other, and plain English as well as the scene
texts' own phrasing: "I can see two balls, one is red", "a little yellow duck sits over on the left",
"there's a puppy beside the box". Unknown words are skipped, never guessed.

Work is linear in the text's length: one pass over the tokens, with lookups in tables keyed by word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

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
    "airplanes": "plane", "jet": "plane", "puppy": "dog", "puppies": "dog", "doggy": "dog", "doggie": "dog",
    "kitten": "cat", "kitty": "cat", "kittens": "cat", "auto": "car", "teddy_bear": "teddy", "teddy": "teddy",
    "teddies": "teddy", "sports_ball": "ball", "bunny": "rabbit", "boy": "person", "girl": "person",
    "man": "person", "woman": "person", "men": "person", "women": "person", "kid": "person", "child": "person",
    "children": "person", "baby": "person", "people": "person", "lady": "person", "motorbike": "motorcycle",
    "sofa": "couch", "television": "tv", "phone": "cell_phone", "doughnut": "donut", "table": "dining_table",
    "plant": "potted_plant", "ship": "boat", "sailboat": "boat", "lorry": "truck", "stone": "rock",
    "boulder": "rock", "cupcake": "cake", "mug": "cup", "present": "box", "gift": "box", "crate": "box",
    "parcel": "box", "package": "box", "duckling": "duck", "ducky": "duck", "toad": "frog", "cap": "hat",
    # not "home": "near my home" names no house
    "automobile": "car", "coach": "bus", "drums": "drum", "cottage": "house", "hut": "house",

    "aircraft": "plane", "airliner": "plane", "pup": "dog", "pooch": "dog", "hound": "dog", "pebble": "rock",
    "carton": "box", "goldfish": "fish", "sedan": "car", "taxi": "car", "cab": "car", "cycle": "bike",
    "canoe": "boat", "bonnet": "hat", "teacup": "cup", "cabin": "house", "bloom": "flower", "blossom": "flower",
    "daisy": "flower", "tulip": "flower", "bunny_rabbit": "rabbit", "froggy": "frog", "birdie": "bird",
    "balloon": "balloon", "doll": "doll", "block": "block", "rabbit": "rabbit", "pig": "pig",
    "chicken": "chicken", "hen": "chicken", "lion": "lion", "monkey": "monkey", "robot": "robot",
}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
                "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "dozen": 12, "a dozen": 12,
                "a couple of": 2, "a pair of": 2, "a single": 1, "just one": 1, "only one": 1}
SIZE_WORDS = {"small": "small", "little": "small", "tiny": "small", "teeny": "small", "wee": "small",
              "big": "big", "large": "big", "huge": "big", "giant": "big", "great": "big", "enormous": "big"}
# shades a text may use, read as the nearest of the scene colours: an unknown colour word would otherwise be
# skipped, and a wrong colour said in it would cost nothing
SHADES = {"crimson": "red", "scarlet": "red", "maroon": "red", "cherry": "red", "ruby": "red", "navy": "blue",
          "azure": "blue", "turquoise": "blue", "teal": "blue", "cyan": "blue", "sky": None, "olive": "green",
          "lime": "green", "emerald": "green", "violet": "purple", "lilac": "purple", "lavender": "purple",
          "indigo": "purple", "mauve": "purple", "rosy": "pink", "magenta": "pink", "fuchsia": "pink",
          "salmon": "pink", "beige": "brown", "tan": "brown", "chocolate": "brown", "ivory": "white",
          "cream": "white", "snowy": "white", "amber": "orange", "ginger": "orange", "lemon": "yellow",
          "golden": "yellow", "ebony": "black", "jet": None}
COLOR_WORDS = {**{c: c for c in COLORS}, "gray": "gray", "grey": "gray", "gold": "gold", "silver": "silver",
               **{k: v for k, v in SHADES.items() if v}}
# words that may stand between a noun's modifiers ("a big, round, red ball") and that say nothing checkable
ADJECTIVES = {"round", "fluffy", "shiny", "new", "old", "pretty", "nice", "cute", "funny", "happy", "sad", "soft",
              "bright", "dark", "light", "toy", "wooden", "furry", "lovely", "colourful", "colorful", "sleepy",
              "tall", "short", "long", "fat", "thin", "other", "same", "lonely", "single", "whole",
              "another", "more", "few", "several", "some", "many", "lots", "of", "very", "really", "so",
              "quite", "rather", "pale", "deep", "coloured", "colored", "painted", "striped", "spotted"}
DETERMINERS = {"a", "an", "the", "this", "that", "these", "those", "my", "your", "his", "her", "our", "their",
               "its", "some", "any", "another", "every", "each", "no"}
NEGATIONS = {"no", "not", "never", "without", "none", "nor", "neither", "cannot", "zero"}
# words that may stand between a negation and the object it denies: "I do not (really) see a cat", "there
# isn't a single cat"; any other word ends the negation's reach ("it is not hard to see the cat")
NEGATION_BRIDGE = {"see", "find", "spot", "notice", "have", "has", "any", "a", "an", "the", "single", "one", "there",
                   "is", "are", "be", "seem", "to", "can", "could", "i", "we", "you", "really", "yet", "even", "also",
                   "count", "look", "at", "for", "anywhere", "here", "of", "in", "this", "picture", "image", "do",
                   "does", "think", "believe", "it", "s", "'s", "there's", "more", "other", "another",
                   "either", "or", "nor", "so", "much", "as", "sign", "kind", "type", "some", "visible"}
# words after which a noun phrase is the object of a relation or preposition, not a predicate's subject
OBJECT_OF = {"of", "to", "beside", "behind", "under", "below", "beneath", "underneath", "near", "besides", "alongside",
             "atop", "upon", "on", "above", "over", "inside", "within", "with", "by", "from", "at"}
ABSENT_WORDS = {"missing", "gone", "absent", "nowhere"}  # "the plane is missing"
CLAUSE_BREAKS = {",", "and", "but", "so", "while", "because", "then", ":"}
VERB_FILLERS = {"is", "are", "sits", "sit", "stands", "stand", "rests", "rest", "waits", "wait", "stays", "stay",
                "lies", "lie", "lays", "sitting", "standing", "resting", "waiting", "lying", "staying", "just",
                "right", "still", "also", "too", "parked", "floats", "float", "floating", "flies", "fly", "flying",
                "grows", "grow", "growing", "hides", "hiding", "was", "be", "can", "seems", "seem", "looks",
                "look", "there", "here", "placed", "found", "located", "appears", "appear", "plays", "playing",
                "swims", "swimming", "hops", "hopping", "sleeps", "sleeping", "perched", "way", "all", "far",
                "over", "is's", "it's", "it", "s"}
POSITIONS = {"left": "left", "right": "right", "middle": "middle", "center": "middle", "centre": "middle",
             "leftmost": "left", "rightmost": "right"}
# "the ball is (over) on the (far) left (side / hand side / of the picture)"
POSITION_LEADS = {"on", "at", "to", "in", "towards", "toward", "near", "by", "over"}
RELATION_PHRASES = {"to the left of": "left of", "on the left of": "left of", "left of": "left of",
                    "to the left side of": "left of", "on the left side of": "left of",
                    "to the right of": "right of", "on the right of": "right of", "right of": "right of",
                    "to the right side of": "right of", "on the right side of": "right of",
                    "next to": "next to", "beside": "next to", "besides": "next to", "alongside": "next to",
                    "close to": "near", "near": "near", "nearby": "near", "near to": "near",
                    "by the side of": "next to",
                    "right next to": "next to", "right beside": "next to",
                    "on top of": "on top of", "on": "on top of", "atop": "on top of", "upon": "on top of",
                    "above": "above", "over": "above", "inside": "inside", "in": "inside", "within": "inside",
                    "sitting on": "on top of", "resting on": "on top of", "standing on": "on top of",
                    "under": "under", "below": "under", "underneath": "under", "beneath": "under",
                    "in front of": "in front of", "before": "in front of",
                    "behind": "behind", "in back of": "behind", "at the back of": "behind"}
assert set(RELATION_PHRASES.values()) <= set(RELATIONS)
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+|[.,!?;:]")
SENTENCE_ENDS = {".", "!", "?", ";"}


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
    table.update({"fish": "fish", "fishes": "fish", "mice": "mouse", "geese": "goose"})
    table.pop("orange", None)
    return table


NOUNS = _noun_table()
TWO_WORD = {tuple(k.split("_")) for k in NOUNS if "_" in k}


def _by_first_word(table: dict[str, str]) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    """Phrase table keyed by its first word, longest phrase first: a match is one dict lookup per token."""
    out: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for phrase, value in table.items():
        words = tuple(phrase.split())
        out.setdefault(words[0], []).append((words, value))
    for entries in out.values():
        entries.sort(key=lambda e: -len(e[0]))
    return out


RELATIONS_BY_WORD = _by_first_word(RELATION_PHRASES)


@dataclass(frozen=True)
class ObjectClaim:
    """'two big red balls': a noun with the colour, size and number the text gives (None where it gives none)."""

    noun: str
    color: str | None = None
    size: str | None = None
    count: int | None = None

    def __str__(self) -> str:
        words = [str(self.count) if self.count else "", self.size or "", self.color or "", self.noun]
        return " ".join(w for w in words if w)


@dataclass(frozen=True)
class Claim:
    """One checkable claim: `kind` is object, position, relation or either; `objects` its objects (the
    subject first; every option of an `either`); `value` the position or relation; `negated` flips it."""

    kind: str
    objects: tuple[ObjectClaim, ...]
    value: str | None = None
    negated: bool = False

    def __str__(self) -> str:
        if self.kind == "either":
            body = " or ".join(map(str, self.objects))
        elif self.kind == "position":
            body = f"{self.objects[0]} on the {self.value}"
        elif self.kind == "relation":
            body = f"{self.objects[0]} {self.value} {self.objects[1]}"
        else:
            body = str(self.objects[0])
        return f"not: {body}" if self.negated else body


@dataclass
class _Phrase:
    start: int  # token index of the phrase's first word (determiner included)
    end: int  # token index just past the noun
    claim: ObjectClaim
    negated: bool = False
    used: bool = False  # taken as the argument of a position or relation claim


def tokens(text: str) -> list[str]:
    """Lower-case words, numbers and sentence marks; a possessive or "is" after a noun ("the bus's white")
    stands apart as "'s", other contractions ("there's", "don't") stay whole."""
    out = []
    for t in _TOKEN.findall(text.lower().replace("\u2019", "'")):
        if t.endswith("'s") and t[:-2] in NOUNS:
            out += [t[:-2], "'s"]
        else:
            out.append(t)
    return out


def _is_negation(word: str) -> bool:
    return word in NEGATIONS or word.endswith("n't")


def _modifier(sent: list[str], j: int) -> tuple[str, object, int] | None:
    """The modifier ending at token j, read leftwards: (kind, value, its first token index)."""
    for k in (3, 2):  # "a couple of", "a single", "a dozen"
        if j - k + 1 >= 0 and " ".join(sent[j - k + 1:j + 1]) in NUMBER_WORDS:
            return "count", NUMBER_WORDS[" ".join(sent[j - k + 1:j + 1])], j - k + 1
    w = sent[j]
    if w in COLOR_WORDS:
        return "color", COLOR_WORDS[w], j
    if w in SIZE_WORDS:
        return "size", SIZE_WORDS[w], j
    if w.isdigit():
        return "count", int(w), j
    if w in NUMBER_WORDS:
        return "count", NUMBER_WORDS[w], j
    if w in ADJECTIVES:
        return "skip", None, j
    # "a big, round, red ball": a comma between two adjectives; not "the sky is gray, one plane"
    if w == "," and 0 < j < len(sent) - 1 and sent[j + 1] not in NUMBER_WORDS and not sent[j + 1].isdigit() and (
            sent[j - 1] in COLOR_WORDS or sent[j - 1] in SIZE_WORDS or sent[j - 1] in ADJECTIVES):
        return "skip", None, j
    return None


def _noun_at(sent: list[str], i: int) -> tuple[str, int] | None:
    two = tuple(sent[i:i + 2])
    if two in TWO_WORD:
        return NOUNS["_".join(two)], i + 2
    if sent[i] in NOUNS:
        return NOUNS[sent[i]], i + 1
    return None


def _phrase_at(sent: list[str], i: int) -> _Phrase | None:
    """The noun phrase whose noun starts at token i: the colour, size and number words before it (other
    adjectives may stand between), then a predicate ('the cup is big and blue')."""
    found = _noun_at(sent, i)
    if found is None:
        return None
    noun, end = found
    mods: dict[str, object] = {}
    j, start = i - 1, i
    while j >= 0:
        mod = _modifier(sent, j)
        if mod is None:
            break
        kind, value, first = mod
        if kind != "skip":
            mods.setdefault(kind, value)
        start, j = first, first - 1
    if j >= 0 and sent[j] in DETERMINERS:
        start = j
    claim = ObjectClaim(noun, mods.get("color"), mods.get("size"), mods.get("count"))  # type: ignore[arg-type]
    return _Phrase(start, end, claim)


def _predicate(sent: list[str], phrase: _Phrase) -> tuple[ObjectClaim, ObjectClaim | None]:
    """'the cup is big and blue' adds to the noun's claim; 'the cup is not blue' makes a second, negated one.
    Returns (the claim, the negated attribute claim or None)."""
    end = phrase.end
    if phrase.start > 0 and sent[phrase.start - 1] in OBJECT_OF:
        return phrase.claim, None  # "the plane to the left of the bus is yellow": the plane is yellow, not the bus
    if end + 1 < len(sent) and sent[end] in ("that", "which") and sent[end + 1] in ("is", "are", "looks", "seems"):
        end += 1  # "a plane that is pink"
    if end >= len(sent) or sent[end] not in ("is", "are", "looks", "look", "seems", "seem", "'s", "painted",
                                             "coloured", "colored"):
        return phrase.claim, None
    read = _attributes(sent[end + 1:end + 8])
    if read is None:
        return phrase.claim, None
    color, size, negated = read
    if color is None and size is None:
        return phrase.claim, None
    base = phrase.claim
    if negated:
        return base, ObjectClaim(base.noun, color, size)
    return replace(base, color=base.color or color, size=base.size or size), None


def _attributes(words: list[str]) -> tuple[str | None, str | None, bool] | None:
    """(colour, size, negated) a predicate gives ('is not very big and blue'); None when its words are a
    noun phrase of their own ('is a small bus')."""
    color = size = None
    negated = False
    for k, w in enumerate(words):
        if w in COLOR_WORDS:
            color = color or COLOR_WORDS[w]
        elif w in SIZE_WORDS:
            size = size or SIZE_WORDS[w]
        elif _is_negation(w) and color is None and size is None:
            negated = True
        elif w in NOUNS:
            return None  # "right of the teddy is a small bus": the words belong to the bus
        elif w in ("and", ",", "but"):
            if k + 1 < len(words) and (words[k + 1] in COLOR_WORDS or words[k + 1] in SIZE_WORDS
                                       or words[k + 1] in ("very", "so", "really", "quite")):
                continue  # "big and blue"; else the predicate ends: "a plane that is pink, a bus ..."
            break
        elif w not in ADJECTIVES and w not in {"both", "kind", "a", "bit", "all", "colour", "color", "is"}:
            break
    return color, size, negated


def _negation_scope(sent: list[str]) -> list[bool]:
    """Per token: whether a negation before it still reaches it. A negation reaches the objects right after
    it and the ones it lists with 'or'/'nor' ('I do not see a cat or a dog', 'there isn't a single red
    ball'); any other word ends it ('it is not hard to see the cat', 'no one is playing with the ball')."""
    scope, active = [], False
    for w in sent:
        scope.append(active)
        if _is_negation(w):
            active = True
        elif active and not (w in NEGATION_BRIDGE or w in NOUNS or w in COLOR_WORDS or w in SIZE_WORDS
                             or w in NUMBER_WORDS or w in ADJECTIVES and w not in ("of", "more", "other")):
            active = False
    return scope


def _said_absent(sent: list[str], end: int) -> bool:
    """'the plane is missing', 'the bus is no longer here', 'the cat is not there': the object denied after it."""
    if end >= len(sent) or sent[end] not in ("is", "are", "'s"):
        return False
    after = sent[end + 1:end + 4]
    return bool(after) and (after[0] in ABSENT_WORDS or after[:2] == ["no", "longer"]
                            or after[:2] in (["not", "here"], ["not", "there"]))


def _position_at(sent: list[str], i: int) -> tuple[str, int] | None:
    """'(over) on the (far) left (side / hand side / of the picture)' at token i: (where, end index);
    None when it is followed by 'of' + an object (that is a relation)."""
    j = i
    if sent[j] == "over" and j + 1 < len(sent) and sent[j + 1] in POSITION_LEADS:
        j += 1
    if sent[j] not in POSITION_LEADS or j + 2 >= len(sent) or sent[j + 1] != "the":
        return None
    k = j + 2
    if k < len(sent) and sent[k] == "far":
        k += 1
    if k >= len(sent) or sent[k] not in POSITIONS:
        return None
    where, k = POSITIONS[sent[k]], k + 1
    while k < len(sent) and sent[k] in ("side", "hand", "corner", "part", "edge", "bit"):
        k += 1
    if k < len(sent) and sent[k] == "of":
        rest = sent[k + 1:k + 4]
        if not any(w in ("picture", "image", "photo", "scene", "page", "it", "them") for w in rest):
            return None  # "to the left of the box": a relation
        k += 1 + next(n for n, w in enumerate(rest, 1) if w in ("picture", "image", "photo", "scene", "page",
                                                                  "it", "them"))
    return where, k


def _relation_at(sent: list[str], i: int) -> tuple[str, int] | None:
    for words, value in RELATIONS_BY_WORD.get(sent[i], ()):
        if tuple(sent[i:i + len(words)]) == words:
            return value, i + len(words)
    return None


class _Sentence:
    """One sentence's phrases and the claims built on them, with the index lookups kept linear."""

    def __init__(self, sent: list[str], offset: int) -> None:
        self.sent, self.offset = sent, offset
        self.phrases: list[_Phrase] = []
        self.starting: dict[int, _Phrase] = {}  # start index -> phrase
        self.ending: dict[int, _Phrase] = {}  # end index -> phrase
        self.claims: list[tuple[int, Claim]] = []  # (token index in the whole text, claim)
        self.negation = _negation_scope(sent)

    def read_phrases(self) -> None:
        sent, i = self.sent, 0
        while i < len(sent):
            phrase = _phrase_at(sent, i) if sent[i] != "orange" else None
            if phrase is None:
                i += 1
                continue
            # 'no' as the determiner counts ("there is no red ball"), 'not' before it too
            phrase.negated = (self.negation[i] or (phrase.start < len(sent) and sent[phrase.start] == "no")
                              or _said_absent(sent, phrase.end))
            claim, negated_attribute = _predicate(sent, phrase)
            phrase.claim = claim
            if negated_attribute is not None:
                self.claims.append((self.offset + phrase.end, Claim("object", (negated_attribute,), negated=True)))
            self.phrases.append(phrase)
            self.starting[phrase.start] = phrase
            self.ending[phrase.end] = phrase
            i = phrase.end

    def subject_before(self, at: int) -> _Phrase | None:
        """The phrase a predicate at `at` belongs to: the nearest one ending at most five words before
        it, with no clause break between ('the dog is just hanging out over on the left')."""
        for j in range(at, max(-1, at - 6), -1):
            if j in self.ending:
                return self.ending[j]
            if j > 0 and self.sent[j - 1] in CLAUSE_BREAKS and not (
                    self.sent[j - 1] == "and" and j > 1 and (self.sent[j - 2] in COLOR_WORDS
                                                             or self.sent[j - 2] in SIZE_WORDS)):
                return None  # a clause break; but "the cup is big and on the left" is one clause
        return None

    def phrase_from(self, at: int, reach: int = 1) -> _Phrase | None:
        """The phrase starting at `at` or within `reach` tokens after it."""
        for j in range(at, min(at + reach + 1, len(self.sent) + 1)):
            if j in self.starting:
                return self.starting[j]
        return None

    def fronted_subject(self, at: int) -> _Phrase | None:
        """'Next to the box is a cat', 'On the left, I can see a dog': the first phrase soon after."""
        for j in range(at, min(at + 7, len(self.sent))):
            if self.sent[j] in SENTENCE_ENDS:
                return None
            if j in self.starting:
                return self.starting[j]
        return None

    def read_predicates(self) -> None:
        sent, i = self.sent, 0
        while i < len(sent):
            pos = _position_at(sent, i)
            rel = None if pos else _relation_at(sent, i)
            if pos:
                self._position(i, *pos)
                i = pos[1]
            elif rel and self._relation(i, *rel):
                i = rel[1]
            else:
                i += 1

    def _position(self, i: int, where: str, end: int) -> None:
        subject = self.subject_before(i) or self.fronted_subject(end)
        if subject is None or subject.used:
            return
        subject.used = True
        negated = subject.negated or self._negation_between(subject.end, i)
        # a claim is the completion's when any of its words is: "...park. To" + "the left of the kite is a duck"
        self.claims.append((self.offset + max(end - 1, subject.end - 1),
                            Claim("position", (subject.claim,), where, negated)))

    def _relation(self, i: int, value: str, end: int) -> bool:
        other = self.phrase_from(end)
        if other is None:
            return False
        subject = self.subject_before(i)
        if subject is None:
            subject = self.fronted_subject(other.end)
        if subject is None or subject is other:
            return False
        negated = subject.negated or self._negation_between(subject.end, i)
        subject.used = other.used = True
        self.claims.append((self.offset + max(other.end, subject.end) - 1,
                            Claim("relation", (subject.claim, other.claim), value, negated)))
        return True

    def _negation_between(self, a: int, b: int) -> bool:
        """'the cat is not next to the box': a negation word between the subject and its predicate."""
        return any(_is_negation(w) for w in self.sent[a:b])

    def read_objects(self) -> None:
        """Phrases not taken by a predicate: object claims, negated ones, 'X or Y' disjunctions, and
        'two balls, one is red' (a member's colour)."""
        sent, k = self.sent, 0
        while k < len(self.phrases):
            p = self.phrases[k]
            if p.used:
                k += 1
                continue
            options = [p]
            while k + 1 < len(self.phrases) and "or" in sent[options[-1].end:self.phrases[k + 1].start] \
                    and self.phrases[k + 1].start - options[-1].end <= 3 and not self.phrases[k + 1].used:
                k += 1
                options.append(self.phrases[k])
            if len(options) > 1:
                # 'I do not see a cat or a dog': neither is there
                claim = Claim("either", tuple(o.claim for o in options), negated=p.negated)
            else:
                claim = Claim("object", (p.claim,), negated=p.negated)
            self.claims.append((self.offset + p.end - 1, claim))
            self._member(p)
            k += 1

    def _member(self, p: _Phrase) -> None:
        """'two balls, (and) one (of them) is red' after a number: one of those objects has that colour or size."""
        sent = self.sent
        if (p.claim.count or 0) < 2:
            return
        for j in range(p.end, min(p.end + 5, len(sent))):
            if j in self.starting or sent[j] in SENTENCE_ENDS:
                return
            if sent[j] == "one":
                break
        else:
            return
        j += 1
        if j < len(sent) and sent[j] == "of":
            j += 2  # "of them"
        if j + 1 < len(sent) and sent[j] == "is" and (sent[j + 1] in COLOR_WORDS or sent[j + 1] in SIZE_WORDS):
            w = sent[j + 1]
            member = ObjectClaim(p.claim.noun, COLOR_WORDS.get(w), SIZE_WORDS.get(w))
            self.claims.append((self.offset + j, Claim("object", (member,))))


def sentences(toks: list[str]) -> list[tuple[int, list[str]]]:
    """(offset of its first token, its tokens) for each sentence."""
    out, start = [], 0
    for n, t in enumerate(toks):
        if t in SENTENCE_ENDS:
            if n > start:
                out.append((start, toks[start:n]))
            start = n + 1
    if start < len(toks):
        out.append((start, toks[start:]))
    return out


def read_sentences(text: str, prefix: str = "") -> list[list[Claim]]:
    """The claims each sentence of the text makes, in order. With a prefix, the text continues it: a
    sentence the prefix began is read whole, and only claims with a word in the text count."""
    before = tokens(prefix)
    toks = before + tokens(text)
    out: list[list[Claim]] = []
    for offset, sent in sentences(toks):
        if offset + len(sent) <= len(before):
            continue  # wholly the prefix's
        s = _Sentence(sent, offset)
        s.read_phrases()
        s.read_predicates()
        s.read_objects()
        out.append([c for at, c in sorted(s.claims, key=lambda x: x[0]) if at >= len(before)])
    return out


def read_claims(text: str, prefix: str = "") -> list[Claim]:
    """The distinct claims the text makes, in order (see read_sentences)."""
    return list(dict.fromkeys(c for sentence in read_sentences(text, prefix) for c in sentence))


def named_kinds(text: str) -> set[str]:
    """The object kinds a text names at all (the prefix's, for coverage)."""
    toks = tokens(text)
    return {_noun_at(toks, i)[0] for i in range(len(toks)) if _noun_at(toks, i) is not None}
