"""The procedural scene dataset: pictures a small child could describe, with texts in a child's words.

Each scene is a setting (park, beach, room, snow) with two or three everyday objects, each with a
kind, a colour, a size and a slot (left, middle, right). Every text is built from the scene itself,
so it is true to the picture by construction; word counts follow the paper's ShortDesc (20-25 words,
2-3 sentences) and LongDesc (60-70 words, 5-6 sentences). Everything is a pure function of
(split, index, seed): the same call gives the same picture and texts on any machine.

Splits are disjoint by picture content: a scene's layout (setting, kinds, colours, sizes, slots)
hashes to one split, and a split only keeps scenes that hash to it.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

import numpy as np

from vlmgrade.types import SceneObject

KINDS = ("ball", "box", "cup", "hat", "car", "kite", "star", "fish", "boat", "flower")
COLORS = {
    "red": (220, 40, 40),
    "blue": (40, 80, 220),
    "green": (40, 170, 60),
    "yellow": (245, 215, 40),
    "purple": (140, 60, 190),
    "orange": (245, 140, 30),
}
SETTINGS = ("park", "beach", "room", "snow")
SLOTS = ("left", "middle", "right")
SIZES = ("big", "small")
SPLITS = ("train", "val", "test")
# Number of scenes each built-in split holds; a split is an infinite stream cut at this length.
SPLIT_SIZES = {"train": 200_000, "val": 2_000, "test": 1_000}
SHORT_WORDS = (20, 25)
LONG_WORDS = (60, 70)
# The paper gives the model the first 6-7 words (short) or 18-20 words (long) of the description.
PREFIX_WORDS = {"short": (6, 7), "long": (18, 20)}


@dataclass(frozen=True)
class Scene:
    """A scene's content, its two texts and where it came from."""

    id: str
    setting: str
    objects: tuple[SceneObject, ...]
    short: str
    long: str

    def text(self, style: str) -> str:
        return self.short if style == "short" else self.long


# ----------------------------------------------------------------------------- layout

def _split_of(setting: str, objects: tuple[SceneObject, ...]) -> str:
    """The split a layout belongs to; 2% test, 2% val, the rest train."""
    key = setting + "|" + "|".join(f"{o.name},{o.color},{o.size},{o.position}" for o in objects)
    bucket = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 100
    return "test" if bucket < 2 else "val" if bucket < 4 else "train"


def _draw_layout(rng: random.Random) -> tuple[str, tuple[SceneObject, ...]]:
    setting = rng.choice(SETTINGS)
    count = rng.choice((2, 3, 3))
    slots = sorted(rng.sample(range(len(SLOTS)), count))
    kinds = rng.sample(KINDS, count)
    objects = tuple(
        SceneObject(name=k, color=rng.choice(tuple(COLORS)), size=rng.choice(SIZES), position=SLOTS[s])
        for k, s in zip(kinds, slots)
    )
    return setting, objects


def make_scene(split: str, index: int, seed: int = 0) -> Scene:
    """The `index`-th scene of `split`; texts are drawn after the layout so both stay deterministic."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    rng = random.Random(f"scenes/{seed}/{split}/{index}")
    while True:
        setting, objects = _draw_layout(rng)
        if _split_of(setting, objects) == split:
            break
    short = _fit(rng, lambda: _short_text(rng, setting, objects), *SHORT_WORDS)
    long = _fit(rng, lambda: _long_text(rng, setting, objects), *LONG_WORDS)
    return Scene(id=f"{split}-{index:06d}", setting=setting, objects=objects, short=short, long=long)


def prefix_of(text: str, style: str, scene_id: str) -> str:
    """The beginning the model must complete: 6-7 (short) or 18-20 (long) words, chosen per scene."""
    lo, hi = PREFIX_WORDS[style]
    n = lo + int(hashlib.sha1(scene_id.encode()).hexdigest()[:4], 16) % (hi - lo + 1)
    return " ".join(text.split()[:n])


# ----------------------------------------------------------------------------- text

def word_count(text: str) -> int:
    return len(text.split())


def sentence_count(text: str) -> int:
    return sum(text.count(p) for p in ".!?")


def _fit(rng: random.Random, build, lo: int, hi: int) -> str:
    """Draw texts until one has between lo and hi words; the grammar makes this quick."""
    for _ in range(500):
        text = build()
        if lo <= word_count(text) <= hi:
            return text
    raise RuntimeError("scene text grammar cannot reach the word range")  # a bug, not user input


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


def _np(rng: random.Random, o: SceneObject, size: bool | None = None) -> str:
    """A noun phrase for an object: 'a red ball', 'a big red ball'."""
    with_size = rng.random() < 0.4 if size is None else size
    return _a(f"{o.size} {o.color} {o.name}" if with_size else f"{o.color} {o.name}")


_OPENERS = {
    "park": ["It is a sunny day at the park.", "We are at the park today.", "This is a nice green park.",
             "The sun is up over the park.", "Today we go to the park."],
    "beach": ["It is a sunny day at the beach.", "We are at the beach today.", "This is the sandy beach.",
              "The sea is blue at the beach.", "Today we go to the beach."],
    "room": ["This is my room at home.", "We are in my room today.", "It is play time in my room.",
             "My room is warm and nice.", "Today I play in my room."],
    "snow": ["It is a cold snowy day.", "There is white snow all around.", "We are out in the snow today.",
             "The snow is soft and white.", "Today it is cold and snowy."],
}
_WHERE = {"left": "on the left", "middle": "in the middle", "right": "on the right"}
_CLOSERS = ["I like it here.", "It is a happy day.", "I want to play now.", "It is so much fun.",
            "I am very happy.", "What a good day."]
_LIKES = ["I like the {c} {n}.", "The {n} is my best toy.", "I want to play with the {n}.",
          "The {c} {n} is so pretty.", "I love the {n}."]


def _list(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _mention_all(rng: random.Random, objects: tuple[SceneObject, ...]) -> list[str]:
    """One or two sentences that name every object with its colour."""
    objs = list(objects)
    rng.shuffle(objs)
    style = rng.randrange(4)
    if style == 0:
        return [f"I see {_list([_np(rng, o) for o in objs])}."]
    if style == 1:
        return [f"There is {_list([_np(rng, o) for o in objs])}."]
    first, rest = objs[0], objs[1:]
    if style == 2:
        return [f"I see {_np(rng, first)}.", f"Next to it is {_list([_np(rng, o) for o in rest])}."]
    return [f"{_np(rng, first).capitalize()} is {_WHERE[first.position]}.",
            f"I can see {_list([_np(rng, o) for o in rest])} too."]


def _short_text(rng: random.Random, setting: str, objects: tuple[SceneObject, ...]) -> str:
    sentences = [rng.choice(_OPENERS[setting])] + _mention_all(rng, objects)
    if len(sentences) < 3 and rng.random() < 0.8:
        o = rng.choice(objects)
        sentences.append(rng.choice(_LIKES + _CLOSERS).format(c=o.color, n=o.name))
    return " ".join(sentences)


_LONG_OPENERS = {
    "park": ["It is a sunny day and we are at the big park.", "Today we go to the park to play in the sun.",
             "The sun is up and the grass in the park is green."],
    "beach": ["It is a sunny day and we are at the beach.", "Today we go to the beach to play in the sand.",
              "The sun is up and the sea at the beach is blue."],
    "room": ["It is play time and I am in my room at home.", "Today I stay at home and play in my room.",
             "My room is warm and nice, and it has a window."],
    "snow": ["It is a cold day and there is snow all around.", "Today we go out to play in the white snow.",
             "The snow is soft and white, and it is very cold."],
}
_LONG_CLOSERS = ["I want to play with the {c} {n} all day long.", "It is a happy day and I like it here so much.",
                 "I think the {n} is the best thing I can see.", "We can play here for a long time and have fun.",
                 "The {c} {n} makes me smile and feel so happy."]


def _describe(rng: random.Random, o: SceneObject) -> str:
    options = [f"The {o.color} {o.name} is {_WHERE[o.position]} and it is very {o.size}.",
               f"{_WHERE[o.position].capitalize()} I can see the {o.name}, and it is {o.size} and {o.color}.",
               f"The {o.name} {_WHERE[o.position]} is {o.color}, and it is {o.size} too.",
               f"Look at the {o.size} {o.color} {o.name} that is {_WHERE[o.position]}."]
    return rng.choice(options)


def _long_text(rng: random.Random, setting: str, objects: tuple[SceneObject, ...]) -> str:
    sentences = [rng.choice(_LONG_OPENERS[setting])] + _mention_all(rng, objects)
    for o in rng.sample(objects, len(objects)):
        if len(sentences) < 5:
            sentences.append(_describe(rng, o))
    fav = rng.choice(objects)
    pool = [s.format(c=fav.color, n=fav.name) for s in _LONG_CLOSERS]
    rng.shuffle(pool)
    while len(sentences) < 5 or (len(sentences) < 6 and rng.random() < 0.7):
        sentences.append(pool.pop())
    return " ".join(sentences)


# ----------------------------------------------------------------------------- pictures

_SKY = {"park": (140, 200, 250), "beach": (150, 210, 250), "room": (235, 220, 190), "snow": (185, 190, 200)}
_GROUND = {"park": (90, 170, 80), "beach": (235, 210, 150), "room": (150, 100, 60), "snow": (250, 250, 250)}
_OUTLINE = (30, 30, 30)


def render(objects: tuple[SceneObject, ...], setting: str, size: int = 96):
    """Draw a scene as an RGB PIL image of size x size pixels."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), _SKY[setting])
    d = ImageDraw.Draw(img)
    horizon = int(size * 0.55)
    d.rectangle([0, horizon, size, size], fill=_GROUND[setting])
    if setting == "beach":
        d.rectangle([0, horizon, size, horizon + size // 10], fill=(60, 120, 210))
    if setting in ("park", "beach"):
        r = size // 14
        d.ellipse([size - 3 * r, r, size - r, 3 * r], fill=(255, 235, 90))
    if setting == "room":
        d.rectangle([size // 2 - size // 10, size // 12, size // 2 + size // 10, size // 4], fill=(250, 250, 255),
                    outline=_OUTLINE)
    slot_w = size / len(SLOTS)
    for o in objects:
        cx = slot_w * (SLOTS.index(o.position) + 0.5)
        r = slot_w * (0.44 if o.size == "big" else 0.28)
        cy = size * 0.62 - (r * 0.3 if o.size == "small" else 0)
        _SHAPES[o.name](d, cx, cy, r, COLORS[o.color])
    return img


def _ball(d, x, y, r, c):
    d.ellipse([x - r, y - r, x + r, y + r], fill=c, outline=_OUTLINE)


def _box(d, x, y, r, c):
    d.rectangle([x - r * 0.85, y - r * 0.85, x + r * 0.85, y + r * 0.85], fill=c, outline=_OUTLINE)


def _cup(d, x, y, r, c):
    d.ellipse([x + r * 0.3, y - r * 0.5, x + r, y + r * 0.3], outline=c, width=max(1, int(r / 4)))
    d.polygon([(x - r * 0.8, y - r * 0.8), (x + r * 0.6, y - r * 0.8), (x + r * 0.4, y + r * 0.8),
               (x - r * 0.6, y + r * 0.8)], fill=c, outline=_OUTLINE)


def _hat(d, x, y, r, c):
    d.rectangle([x - r, y + r * 0.2, x + r, y + r * 0.45], fill=c, outline=_OUTLINE)
    d.rectangle([x - r * 0.55, y - r * 0.7, x + r * 0.55, y + r * 0.2], fill=c, outline=_OUTLINE)


def _car(d, x, y, r, c):
    d.rectangle([x - r * 0.5, y - r * 0.7, x + r * 0.4, y - r * 0.1], fill=c, outline=_OUTLINE)
    d.rectangle([x - r, y - r * 0.15, x + r, y + r * 0.45], fill=c, outline=_OUTLINE)
    for wx in (x - r * 0.55, x + r * 0.55):
        d.ellipse([wx - r * 0.25, y + r * 0.3, wx + r * 0.25, y + r * 0.8], fill=_OUTLINE)


def _kite(d, x, y, r, c):
    d.line([(x, y + r), (x + r * 0.4, y + r * 1.3)], fill=_OUTLINE)
    d.polygon([(x, y - r), (x + r * 0.65, y), (x, y + r), (x - r * 0.65, y)], fill=c, outline=_OUTLINE)


def _star(d, x, y, r, c):
    pts = []
    for i in range(10):
        rad = r if i % 2 == 0 else r * 0.45
        a = -math.pi / 2 + i * math.pi / 5
        pts.append((x + rad * math.cos(a), y + rad * math.sin(a)))
    d.polygon(pts, fill=c, outline=_OUTLINE)


def _fish(d, x, y, r, c):
    d.polygon([(x + r * 0.4, y), (x + r, y - r * 0.5), (x + r, y + r * 0.5)], fill=c, outline=_OUTLINE)
    d.ellipse([x - r, y - r * 0.5, x + r * 0.55, y + r * 0.5], fill=c, outline=_OUTLINE)
    d.ellipse([x - r * 0.65, y - r * 0.2, x - r * 0.45, y], fill=_OUTLINE)


def _boat(d, x, y, r, c):
    d.polygon([(x, y - r), (x, y + r * 0.1), (x + r * 0.7, y + r * 0.1)], fill=(250, 250, 250), outline=_OUTLINE)
    d.polygon([(x - r, y + r * 0.2), (x + r, y + r * 0.2), (x + r * 0.6, y + r * 0.7), (x - r * 0.6, y + r * 0.7)],
              fill=c, outline=_OUTLINE)


def _flower(d, x, y, r, c):
    d.line([(x, y), (x, y + r * 1.2)], fill=(30, 120, 30), width=max(1, int(r / 5)))
    pr = r * 0.4
    for i in range(5):
        a = i * 2 * math.pi / 5
        px, py = x + r * 0.55 * math.cos(a), y - r * 0.2 + r * 0.55 * math.sin(a)
        d.ellipse([px - pr, py - pr, px + pr, py + pr], fill=c, outline=_OUTLINE)
    d.ellipse([x - pr * 0.6, y - r * 0.2 - pr * 0.6, x + pr * 0.6, y - r * 0.2 + pr * 0.6], fill=(250, 240, 120))


_SHAPES = {"ball": _ball, "box": _box, "cup": _cup, "hat": _hat, "car": _car, "kite": _kite, "star": _star,
           "fish": _fish, "boat": _boat, "flower": _flower}


def render_array(scene: Scene, size: int = 96) -> np.ndarray:
    """The scene's picture as a (size, size, 3) uint8 array; what training stacks into batches."""
    return np.asarray(render(scene.objects, scene.setting, size), dtype=np.uint8)
