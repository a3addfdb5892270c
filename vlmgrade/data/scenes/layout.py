"""The procedural scene dataset (version 2.1): pictures a small child could describe, with texts in a
child's words that are true to the picture's geometry.

A scene is a setting (park, beach, room, snow, street) with 3 to 7 everyday objects (27 kinds, 10
colours, repeats allowed), each with a continuous size (described as small or big) and a box placed
freely on the ground, partly overlapping or stacked on another. Texts (`scene_text`) state only what
the boxes make clearly true: positions, relations, counts, colours and sizes. Everything is a pure
function of (split, index, seed): the same call gives the same picture and texts on any machine.

Splits: `train`, `val`, `test` (in distribution) and `test-novel`: scenes with a held-out kind-colour
pair or a held-out pair of kinds (neither ever occurs in train, val or test). Splits are disjoint by
composition (the objects' kinds, colours and sizes, whatever the boxes and setting): no val, test or
test-novel scene shows exactly the objects of a training scene, so a model cannot pass by recall.

Version 2.1 (from 2): splits by composition instead of by layout; a text states a position or a
relation only about an object its words pick out uniquely ("the red ball" when there is one red ball).
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from vlmgrade.core.types import SceneObject
from vlmgrade.data.scenes import geometry
from vlmgrade.data.scenes.drawing import COLORS
from vlmgrade.data.scenes.drawing import render as _render

if TYPE_CHECKING:
    from PIL import Image

_T = TypeVar("_T")

VERSION = "2.1"
KINDS = ("ball", "box", "cup", "hat", "car", "kite", "star", "fish", "boat", "flower",  # toys and things
         "cat", "dog", "duck", "bird", "frog",  # animals
         "bus", "truck", "plane", "bike",  # vehicles
         "apple", "cake", "banana",  # food
         "teddy", "drum",  # more toys
         "tree", "house", "rock")  # outdoors
PLURALS = {k: ("boxes" if k == "box" else "buses" if k == "bus" else "fish" if k == "fish" else k + "s")
           for k in KINDS}
SETTINGS = ("park", "beach", "room", "snow", "street")
SIZES = ("small", "big")
SPLITS = ("train", "val", "test", "test-novel")
SPLIT_SIZES = {"train": 200_000, "val": 2_000, "test": 1_000, "test-novel": 1_000}
SHORT_WORDS = (20, 25)
LONG_WORDS = (60, 70)
# The paper gives the model the first 6-7 words (short) or 18-20 words (long) of the description.
PREFIX_WORDS = {"short": (6, 7), "long": (18, 20)}
# Width of a box as a fraction of the picture's, per size word; heights follow each kind's shape.
WIDTHS = {"small": (0.11, 0.15), "big": (0.20, 0.26)}
ASPECT = {"tree": 1.5, "house": 1.1, "bus": 0.6, "truck": 0.65, "car": 0.6, "plane": 0.5, "bike": 0.65,
          "fish": 0.55, "banana": 0.55, "boat": 0.8, "kite": 1.2, "flower": 1.3, "cake": 0.8, "drum": 0.85}


def _ranked(items: Iterable[_T], salt: str) -> list[_T]:
    return sorted(items, key=lambda x: hashlib.sha1(f"{salt}/{x}".encode()).hexdigest())


# Held out of train, val and test (the compositions test-novel is made of): 30 of the 270 kind-colour
# pairs (11%, no kind loses more than 3 colours) and 12 pairs of kinds that never meet in one scene.
def _held_pairs(n: int = 30, per_kind: int = 3) -> frozenset[tuple[str, str]]:
    held: list[tuple[str, str]] = []
    for kind, color in _ranked(itertools.product(KINDS, COLORS), "pairs"):
        if len(held) < n and sum(k == kind for k, _ in held) < per_kind:
            held.append((kind, color))
    return frozenset(held)


HELD_PAIRS = _held_pairs()
HELD_KIND_PAIRS: frozenset[frozenset[str]] = frozenset(
    frozenset(p) for p in _ranked(itertools.combinations(KINDS, 2), "kind-pairs")[:12])


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


def is_novel(objects: tuple[SceneObject, ...]) -> bool:
    kinds = {o.name for o in objects}
    return (any((o.name, o.color) in HELD_PAIRS for o in objects)
            or any(pair <= kinds for pair in HELD_KIND_PAIRS))


def composition(objects: Iterable[SceneObject]) -> tuple[str, ...]:
    """What a scene shows, boxes aside: its objects' kinds, colours and sizes, sorted."""
    return tuple(sorted(f"{o.name},{o.color},{o.size}" for o in objects))


def _split_of(setting: str, objects: tuple[SceneObject, ...]) -> str:
    """The split a layout belongs to: held-out compositions go to test-novel; else 2% test, 2% val, the rest
    train, by a hash of the composition alone, so a composition lands in one split whatever its boxes."""
    if is_novel(objects):
        return "test-novel"
    key = "|".join(sorted(composition(objects)))
    bucket = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 100
    return "test" if bucket < 2 else "val" if bucket < 4 else "train"


def _box_for(rng: random.Random, kind: str, size: str, placed: list[SceneObject]) -> tuple | None:
    """A free spot on the ground (or, now and then, on top of a big object), overlapping others only partly."""
    w = rng.uniform(*WIDTHS[size])
    h = min(0.4, w * ASPECT.get(kind, 1.0))
    bases = [o for o in placed if o.size == "big"]
    for _ in range(40):
        if size == "small" and bases and rng.random() < 0.25:  # stacked: resting on a big object
            base = rng.choice(bases).box
            cx = geometry.center_x(base) + rng.uniform(-0.2, 0.2) * geometry.width(base)
            y1 = base[1] + 0.01
        else:
            cx, y1 = rng.uniform(w / 2 + 0.02, 1 - w / 2 - 0.02), rng.uniform(0.58, 0.97)
        box = (cx - w / 2, y1 - h, cx + w / 2, y1)
        if box[0] < 0 or box[2] > 1 or box[1] < 0.05:
            continue
        if all(_covered(box, o.box) <= 0.35 for o in placed):
            return tuple(round(v, 4) for v in box)
    return None


def _covered(a: tuple, b: tuple) -> float:
    """The larger share of either box that the two boxes have in common."""
    inter = geometry.x_overlap(a, b) * geometry.y_overlap(a, b)
    return inter / min(geometry.width(a) * geometry.height(a), geometry.width(b) * geometry.height(b))


def _draw_layout(rng: random.Random, novel: bool) -> tuple[str, tuple[SceneObject, ...]]:
    setting = rng.choice(SETTINGS)
    target = rng.randint(3, 7)
    placed: list[SceneObject] = []
    groups = []
    if novel:  # start from a held-out composition
        if rng.random() < 0.5:
            kind, color = rng.choice(sorted(HELD_PAIRS))
            groups.append((kind, color))
        else:
            for kind in sorted(rng.choice(sorted(HELD_KIND_PAIRS, key=sorted))):
                groups.append((kind, rng.choice(tuple(COLORS))))
    while len(groups) < target:
        groups.append((rng.choice(KINDS), rng.choice(tuple(COLORS))))
    for kind, color in groups:
        copies = 1 if rng.random() < 0.75 else rng.randint(2, 3)
        size = rng.choice(SIZES)
        for _ in range(copies):
            if len(placed) >= target:
                break
            box = _box_for(rng, kind, size, placed)
            if box is not None:
                placed.append(SceneObject(kind, color, size, geometry.clear_position(box) or "", box))
    return setting, tuple(placed)


def make_scene(split: str, index: int, seed: int = 0) -> Scene:
    """The `index`-th scene of `split`; texts are drawn after the layout so both stay deterministic."""
    from vlmgrade.data.scenes.texts import long_text, short_text

    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    rng = random.Random(f"scenes/v{VERSION}/{seed}/{split}/{index}")
    while True:
        setting, objects = _draw_layout(rng, novel=split == "test-novel")
        if len(objects) >= 3 and _split_of(setting, objects) == split:
            break
    return Scene(id=f"{split}-{index:06d}", setting=setting, objects=objects,
                 short=short_text(rng, setting, objects), long=long_text(rng, setting, objects))


def prefix_of(text: str, style: str, scene_id: str) -> str:
    """The beginning the model must complete: 6-7 (short) or 18-20 (long) words, chosen per scene."""
    lo, hi = PREFIX_WORDS[style]
    n = lo + int(hashlib.sha1(scene_id.encode()).hexdigest()[:4], 16) % (hi - lo + 1)
    return " ".join(text.split()[:n])


def word_count(text: str) -> int:
    return len(text.split())


def sentence_count(text: str) -> int:
    return sum(text.count(p) for p in ".!?")


def render(scene: Scene, size: int = 128) -> Image.Image:
    """The scene's picture as an RGB PIL image."""
    return _render(scene.objects, scene.setting, size, seed=scene.id)


def render_array(scene: Scene, size: int = 128) -> np.ndarray:
    return np.asarray(render(scene, size), dtype=np.uint8)
