"""Scene texts in a small child's words, built from the boxes and true to them.

A text says only what `geometry` finds clearly true: an object's third of the picture, a relation
between two objects, how many of a kind and colour there are, colours and sizes. Sentences come from
a small grammar with many wordings (leads, verbs, fronted phrases, tails), so texts vary far more
than their facts; the grounded judge reads the same phrases back (`judges/claims.py`).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from vlmgrade.core.types import SceneObject
from vlmgrade.data.scenes import geometry

NUMBERS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}
WHERE = {"left": ["on the left", "on the left side", "at the left"], "middle": ["in the middle"],
         "right": ["on the right", "on the right side", "at the right"]}
REL_WORDS = {"next to": ["next to", "beside"], "left of": ["left of", "to the left of"],
             "right of": ["right of", "to the right of"], "on top of": ["on top of"], "under": ["under", "below"],
             "in front of": ["in front of"], "behind": ["behind"]}
RELATION_ORDER = ("on top of", "under", "in front of", "behind", "next to", "left of", "right of")
VERBS = ["is", "sits", "stands", "rests", "waits", "stays", "is just", "is sitting", "is standing", "is resting",
         "is waiting", "sits still", "is right"]
LEADS = ["I see", "I can see", "We can see", "We see", "There is", "Here is", "I spot", "I find", "I can find",
         "I look and I see", "Today I see", "My friend and I see", "I notice", "We look at", "We find",
         "I point at"]
TAILS = ["", " here", " today", " too", " in the picture", " right now", " all around"]
OPENERS = {
    "park": ["It is a sunny day at the park.", "We are at the park today.", "This is a nice green park.",
             "The sun is up over the park.", "Today we go to the park.", "We play on the grass at the park.",
             "The park is full of fun things.", "It is warm and bright in the park."],
    "beach": ["It is a sunny day at the beach.", "We are at the beach today.", "This is the sandy beach.",
              "The sea is blue at the beach.", "Today we go to the beach.", "The sand is warm at the beach.",
              "We play by the sea on the beach.", "The waves are small at the beach today."],
    "room": ["This is my room at home.", "We are in my room today.", "It is play time in my room.",
             "My room is warm and nice.", "Today I play in my room.", "I sit on the rug in my room.",
             "The window in my room is open.", "My room has lots of toys."],
    "snow": ["It is a cold snowy day.", "There is white snow all around.", "We are out in the snow today.",
             "The snow is soft and white.", "Today it is cold and snowy.", "Snow falls on the ground today.",
             "We wear warm coats in the snow.", "The snow is deep and fun."],
    "street": ["We walk down the street today.", "This is the street near my home.", "It is busy on the street.",
               "The street is long and gray.", "Today we are on the street.", "We stop by the road on our street.",
               "The road on our street is wide.", "The lights on our street are on."],
}
LONG_OPENERS = {setting: [f"{a[:-1]} and {b if b.startswith('I ') else b[0].lower() + b[1:]}"
                          for a, b in zip(lines, lines[1:] + lines[:1])] for setting, lines in OPENERS.items()}
FEELINGS = ["I like the {np}.", "I want to play with the {np}.", "The {np} is my best toy.", "I love the {np} a lot.",
            "I think the {np} is so nice.", "The {np} makes me smile.", "I want to hold the {np}.",
            "The {np} looks like fun.", "My sister likes the {np}.", "I wave at the {np}.",
            "I draw a picture of the {np}.", "The {np} is shiny and new.", "I clap my hands for the {np}.",
            "I wonder where the {np} came from.", "I will paint the {np} later.", "My brother laughs at the {np}.",
            "I give the {np} a funny name.", "I would like to take the {np} with me."]
CLOSERS = ["It is a happy day.", "I am so happy.", "I want to play now.", "What a fun day.", "I like it here.",
           "We have lots of fun.", "It is a good day to play.", "I do not want to go home.", "We laugh and play.",
           "I feel very happy today.", "Everything looks so nice.", "We will come back soon.",
           "The air smells fresh and clean.", "A soft wind blows past us.", "The sky is clear and bright.",
           "We sing a silly song.", "I count to ten and hide.", "Nobody is sad today.", "We share and take turns.",
           "I am a little bit sleepy.", "Maybe we can stay longer."]
LONG_CLOSERS = ["We can play here for a long time and have so much fun together.",
                "I want to stay here all day and play with all of my friends.",
                "When the day is over we will go home and tell everyone about it.",
                "It is the best day ever and I will remember it for a long time.",
                "My friends and I run and jump and laugh until we get very tired.",
                "I hope we can come back here again very soon to play some more.",
                "There are so many fun things to look at that I do not know where to start.",
                "At the end of the day we will sit down and have a snack together."]


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def noun_phrase(o: SceneObject, det: str, size: bool = False) -> str:
    words = " ".join(([o.size] if size and o.size else []) + [o.color, o.name])
    return _a(words) if det == "a" else f"{det} {words}"


def _list(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _cap(text: str) -> str:
    return text[0].upper() + text[1:]


def _groups(objects: Sequence[SceneObject]) -> dict[tuple[str, str], list[SceneObject]]:
    groups: dict[tuple[str, str], list[SceneObject]] = {}
    for o in objects:
        groups.setdefault((o.name, o.color), []).append(o)
    return groups


def _group_phrase(rng: random.Random, members: list[SceneObject]) -> str:
    """'two red balls' for a group, 'a (big) red ball' for a single object."""
    from vlmgrade.data.scenes.layout import PLURALS

    o = members[0]
    if len(members) > 1:
        same_size = len({m.size for m in members}) == 1
        size = f"{o.size} " if same_size and rng.random() < 0.3 else ""
        return f"{NUMBERS[len(members)]} {size}{o.color} {PLURALS[o.name]}"
    return noun_phrase(o, "a", size=rng.random() < 0.4)


def listing(rng: random.Random, objects: Sequence[SceneObject]) -> str:
    groups = list(_groups(objects).values())
    rng.shuffle(groups)
    chosen = groups[:rng.randint(2, min(4, len(groups)))] if len(groups) > 1 else groups
    lead = rng.choice(LEADS)
    first = _group_phrase(rng, chosen[0])
    if lead in ("There is", "Here is") and len(chosen[0]) > 1:
        lead = lead.replace("is", "are")
    return f"{lead} {_list([first] + [_group_phrase(rng, g) for g in chosen[1:]])}{rng.choice(TAILS)}."


def position_sentence(rng: random.Random, o: SceneObject) -> str:
    where = rng.choice(WHERE[o.position])
    form = rng.randrange(4)
    if form == 0:
        return f"{_cap(where)}, there is {noun_phrase(o, 'a', rng.random() < 0.4)}."
    if form == 1:
        return f"{_cap(where)} I see {noun_phrase(o, 'a', rng.random() < 0.4)}."
    return f"{_cap(noun_phrase(o, 'the', rng.random() < 0.3))} {rng.choice(VERBS)} {where}."


def relation_sentence(rng: random.Random, a: SceneObject, rel: str, b: SceneObject) -> str:
    phrase = rng.choice(REL_WORDS[rel])
    if rng.random() < 0.35:  # fronted: "Next to the red ball is a blue cup."
        middle = rng.choice(["is", "there is", ", I see", "sits", "I can see"])
        sep = "" if middle.startswith(",") else " "
        return f"{_cap(phrase)} {noun_phrase(b, 'the')}{sep}{middle} {noun_phrase(a, 'a', rng.random() < 0.3)}."
    return f"{_cap(noun_phrase(a, 'the', rng.random() < 0.3))} {rng.choice(VERBS)} {phrase} {noun_phrase(b, 'the')}."


def count_sentence(rng: random.Random, members: list[SceneObject]) -> str:
    from vlmgrade.data.scenes.layout import PLURALS

    o, n = members[0], NUMBERS[len(members)]
    return rng.choice([f"There are {n} {o.color} {PLURALS[o.name]}.", f"I count {n} {o.color} {PLURALS[o.name]}.",
                       f"I see {n} {o.color} {PLURALS[o.name]}{rng.choice(TAILS)}.",
                       f"{_cap(n)} {o.color} {PLURALS[o.name]} are here."])


def attribute_sentence(rng: random.Random, o: SceneObject, unique_kind: bool) -> str:
    if unique_kind and rng.random() < 0.5:
        return rng.choice([f"The {o.name} is {o.color}.", f"The {o.name} is {o.size} and {o.color}.",
                           f"The {o.name} is very {o.color}."])
    return rng.choice([f"The {o.color} {o.name} is {o.size}.", f"The {o.color} {o.name} is very {o.size}.",
                       f"The {o.color} {o.name} is so {o.size}."])


def facts(objects: Sequence[SceneObject]) -> list[tuple]:
    """What may be said of a scene, each as (kind, *objects): positions, relations, counts, attributes."""
    groups = _groups(objects)
    # "the red ball" must pick out one object, or the sentence is true of one and false of the other
    unique = [o for o in objects if len(groups[(o.name, o.color)]) == 1]
    out: list[tuple] = [("position", o) for o in unique if o.position]
    for a in unique:
        for b in unique:
            if a is b:
                continue
            rel = next((r for r in RELATION_ORDER if geometry.relation_holds(a.box, r, b.box, clearly=True)), None)
            if rel is not None:
                out.append(("relation", a, rel, b))
    out += [("count", members) for members in groups.values() if len(members) > 1]
    kinds = [o.name for o in objects]
    out += [("attribute", o, kinds.count(o.name) == 1) for o in objects if len(groups[(o.name, o.color)]) == 1]
    return out


def _say(rng: random.Random, fact: tuple) -> str:
    kind = fact[0]
    if kind == "position":
        return position_sentence(rng, fact[1])
    if kind == "relation":
        return relation_sentence(rng, *fact[1:])
    if kind == "count":
        return count_sentence(rng, fact[1])
    return attribute_sentence(rng, *fact[1:])


def _content(rng: random.Random, objects: Sequence[SceneObject], n: int) -> list[str]:
    pool = facts(objects)
    rng.shuffle(pool)
    # relations and counts first: they are what a model finds hardest to get right
    pool.sort(key=lambda f: {"relation": 0, "count": 1, "position": 2, "attribute": 3}[f[0]] + rng.random() * 2.5)
    return [_say(rng, f) for f in pool[:n]]


def _extra(rng: random.Random, objects: Sequence[SceneObject]) -> str:
    if rng.random() < 0.6:
        return rng.choice(FEELINGS).format(np=noun_phrase(rng.choice(objects), "the")[4:])
    return rng.choice(CLOSERS)


def _fit(rng: random.Random, build: Callable[[], str], words: tuple[int, int], sentences: tuple[int, int]) -> str:
    from vlmgrade.data.scenes.layout import sentence_count, word_count

    for _ in range(2000):
        text = build()
        if words[0] <= word_count(text) <= words[1] and sentences[0] <= sentence_count(text) <= sentences[1]:
            return text
    raise RuntimeError("scene text grammar cannot reach the word range")  # a bug, not user input


def short_text(rng: random.Random, setting: str, objects: Sequence[SceneObject]) -> str:
    from vlmgrade.data.scenes.layout import SHORT_WORDS

    def build() -> str:
        body = [listing(rng, objects)] if rng.random() < 0.5 else []
        body += _content(rng, objects, rng.randint(1, 2) - len(body))
        sentences = [rng.choice(OPENERS[setting])] + body
        if len(sentences) < 3 and rng.random() < 0.5:
            sentences.append(_extra(rng, objects))
        return " ".join(sentences[:3])

    return _fit(rng, build, SHORT_WORDS, (2, 3))


def long_text(rng: random.Random, setting: str, objects: Sequence[SceneObject]) -> str:
    from vlmgrade.data.scenes.layout import LONG_WORDS, word_count

    def build() -> str:
        sentences = [rng.choice(LONG_OPENERS[setting]), listing(rng, objects)]
        content = [c for c in dict.fromkeys(_content(rng, objects, rng.randint(2, 4))) if c not in sentences]
        while len(sentences) < 6 and (len(sentences) < 5 or word_count(" ".join(sentences)) < LONG_WORDS[0]):
            short_of = LONG_WORDS[0] - word_count(" ".join(sentences))
            if content:
                sentences.append(content.pop(0))
            elif short_of > 10 * (6 - len(sentences)) - 10:  # the rest must carry many words
                sentences.append(rng.choice(LONG_CLOSERS))
            else:
                sentences.append(_extra(rng, objects))
        return " ".join(sentences)

    return _fit(rng, build, LONG_WORDS, (5, 6))
