"""Pictures of scenes: a setting with distractor scenery, objects drawn in their boxes far to near (so
nearer ones occlude), each in its colour with a per-object shade jitter, and light pixel noise.

Every kind is a few primitives in its unit box (x right, y down), coloured by role: `c` the object's
colour, `d` a darker shade of it, `k` outline black, `w` white, `g` leaf green, `y` yellow, `b` brown.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from PIL import Image, ImageDraw

    from vlmgrade.core.types import SceneObject

SKY = {
    "park": (140, 200, 250),
    "beach": (150, 210, 250),
    "room": (235, 220, 190),
    "snow": (185, 190, 200),
    "street": (170, 200, 235),
}
GROUND = {
    "park": (90, 170, 80),
    "beach": (235, 210, 150),
    "room": (150, 100, 60),
    "snow": (250, 250, 250),
    "street": (120, 120, 125),
}
HORIZON = 0.45  # fraction of the height where the ground starts; objects stand below it

_E, _R, _P, _L = "ellipse", "rect", "poly", "line"
SHAPES: dict[str, list[tuple]] = {
    "ball": [(_E, (0, 0, 1, 1), "c"), (_L, ((0.05, 0.5), (0.95, 0.5)), "d")],
    "box": [(_R, (0.05, 0.1, 0.95, 1), "c"), (_L, ((0.05, 0.4), (0.95, 0.4)), "d")],
    "cup": [(_P, ((0, 0), (0.75, 0), (0.65, 1), (0.1, 1)), "c"), (_E, (0.62, 0.2, 1, 0.65), "d")],
    "hat": [(_R, (0, 0.75, 1, 1), "c"), (_R, (0.2, 0, 0.8, 0.78), "c"), (_R, (0.2, 0.55, 0.8, 0.68), "d")],
    "car": [
        (_R, (0.2, 0.1, 0.75, 0.5), "c"),
        (_R, (0, 0.45, 1, 0.8), "c"),
        (_E, (0.1, 0.65, 0.35, 1), "k"),
        (_E, (0.65, 0.65, 0.9, 1), "k"),
        (_R, (0.3, 0.18, 0.65, 0.42), "w"),
    ],
    "kite": [(_P, ((0.5, 0), (1, 0.45), (0.5, 0.8), (0, 0.45)), "c"), (_L, ((0.5, 0.8), (0.7, 1)), "k")],
    "star": [
        (
            _P,
            (
                (0.5, 0),
                (0.62, 0.35),
                (1, 0.38),
                (0.7, 0.62),
                (0.8, 1),
                (0.5, 0.78),
                (0.2, 1),
                (0.3, 0.62),
                (0, 0.38),
                (0.38, 0.35),
            ),
            "c",
        )
    ],
    "fish": [
        (_E, (0, 0.15, 0.75, 0.85), "c"),
        (_P, ((0.65, 0.5), (1, 0.1), (1, 0.9)), "d"),
        (_E, (0.12, 0.35, 0.24, 0.5), "k"),
    ],
    "boat": [(_P, ((0.45, 0), (0.45, 0.55), (0.85, 0.55)), "w"), (_P, ((0, 0.6), (1, 0.6), (0.8, 1), (0.2, 1)), "c")],
    "flower": [
        (_L, ((0.5, 0.45), (0.5, 1)), "g"),
        (_E, (0.1, 0, 0.5, 0.4), "c"),
        (_E, (0.5, 0, 0.9, 0.4), "c"),
        (_E, (0.3, 0.25, 0.7, 0.6), "c"),
        (_E, (0.38, 0.15, 0.62, 0.4), "y"),
    ],
    "cat": [
        (_E, (0.1, 0.4, 0.9, 1), "c"),
        (_E, (0.2, 0.05, 0.8, 0.55), "c"),
        (_P, ((0.22, 0.2), (0.3, 0), (0.42, 0.12)), "c"),
        (_P, ((0.58, 0.12), (0.7, 0), (0.78, 0.2)), "c"),
        (_E, (0.35, 0.25, 0.43, 0.33), "k"),
        (_E, (0.57, 0.25, 0.65, 0.33), "k"),
    ],
    "dog": [
        (_E, (0, 0.35, 0.8, 0.85), "c"),
        (_E, (0.55, 0, 1, 0.45), "c"),
        (_E, (0.6, 0.05, 0.72, 0.45), "d"),
        (_R, (0.1, 0.8, 0.2, 1), "d"),
        (_R, (0.6, 0.8, 0.7, 1), "d"),
        (_E, (0.82, 0.15, 0.9, 0.23), "k"),
    ],
    "duck": [
        (_E, (0, 0.4, 0.8, 1), "c"),
        (_E, (0.5, 0, 0.9, 0.45), "c"),
        (_P, ((0.88, 0.2), (1, 0.28), (0.88, 0.34)), "y"),
        (_E, (0.68, 0.12, 0.76, 0.2), "k"),
    ],
    "bird": [
        (_E, (0.1, 0.3, 0.8, 0.9), "c"),
        (_E, (0.55, 0.1, 0.9, 0.45), "c"),
        (_P, ((0.9, 0.25), (1, 0.3), (0.9, 0.35)), "y"),
        (_P, ((0.1, 0.5), (0, 0.35), (0.2, 0.45)), "d"),
        (_L, ((0.4, 0.9), (0.4, 1)), "k"),
    ],
    "frog": [
        (_E, (0, 0.35, 1, 1), "c"),
        (_E, (0.1, 0.1, 0.4, 0.45), "c"),
        (_E, (0.6, 0.1, 0.9, 0.45), "c"),
        (_E, (0.2, 0.2, 0.3, 0.3), "k"),
        (_E, (0.7, 0.2, 0.8, 0.3), "k"),
        (_L, ((0.3, 0.75), (0.7, 0.75)), "d"),
    ],
    "bus": [
        (_R, (0, 0, 1, 0.85), "c"),
        (_R, (0.08, 0.12, 0.3, 0.4), "w"),
        (_R, (0.39, 0.12, 0.61, 0.4), "w"),
        (_R, (0.7, 0.12, 0.92, 0.4), "w"),
        (_E, (0.1, 0.7, 0.28, 1), "k"),
        (_E, (0.72, 0.7, 0.9, 1), "k"),
    ],
    "truck": [
        (_R, (0, 0, 0.62, 0.8), "c"),
        (_R, (0.62, 0.3, 1, 0.8), "d"),
        (_R, (0.7, 0.38, 0.92, 0.55), "w"),
        (_E, (0.08, 0.7, 0.28, 1), "k"),
        (_E, (0.72, 0.7, 0.92, 1), "k"),
    ],
    "plane": [
        (_E, (0, 0.35, 1, 0.65), "c"),
        (_P, ((0.35, 0.5), (0.6, 0.5), (0.45, 1)), "d"),
        (_P, ((0.35, 0.5), (0.6, 0.5), (0.45, 0)), "d"),
        (_P, ((0, 0.5), (0.12, 0.15), (0.2, 0.5)), "d"),
    ],
    "bike": [
        (_E, (0, 0.45, 0.42, 1), "k"),
        (_E, (0.58, 0.45, 1, 1), "k"),
        (_E, (0.06, 0.51, 0.36, 0.94), "w"),
        (_E, (0.64, 0.51, 0.94, 0.94), "w"),
        (_P, ((0.21, 0.72), (0.5, 0.3), (0.79, 0.72), (0.5, 0.72)), "c"),
        (_L, ((0.5, 0.3), (0.45, 0.1)), "c"),
    ],
    "apple": [(_E, (0, 0.15, 1, 1), "c"), (_L, ((0.5, 0.2), (0.55, 0)), "b"), (_E, (0.55, 0, 0.85, 0.15), "g")],
    "cake": [
        (_R, (0, 0.35, 1, 1), "c"),
        (_R, (0, 0.3, 1, 0.45), "w"),
        (_R, (0.45, 0, 0.55, 0.3), "y"),
        (_L, ((0, 0.7), (1, 0.7)), "d"),
    ],
    "banana": [
        (_P, ((0, 0.2), (0.3, 0.75), (0.7, 0.85), (1, 0.4), (0.85, 0.55), (0.55, 0.65), (0.25, 0.45)), "c"),
        (_L, ((0, 0.2), (0.05, 0.1)), "b"),
    ],
    "teddy": [
        (_E, (0.15, 0.4, 0.85, 1), "c"),
        (_E, (0.2, 0.05, 0.8, 0.55), "c"),
        (_E, (0.12, 0, 0.35, 0.2), "c"),
        (_E, (0.65, 0, 0.88, 0.2), "c"),
        (_E, (0.38, 0.3, 0.62, 0.5), "d"),
        (_E, (0.32, 0.18, 0.4, 0.26), "k"),
        (_E, (0.6, 0.18, 0.68, 0.26), "k"),
    ],
    "drum": [
        (_R, (0, 0.25, 1, 1), "c"),
        (_E, (0, 0.05, 1, 0.45), "w"),
        (_L, ((0, 0.6), (1, 0.6)), "d"),
        (_L, ((0.3, 0), (0.5, 0.25)), "b"),
    ],
    "tree": [(_R, (0.4, 0.55, 0.6, 1), "b"), (_E, (0, 0, 1, 0.7), "c"), (_E, (0.25, 0.15, 0.5, 0.35), "d")],
    "house": [
        (_R, (0.1, 0.4, 0.9, 1), "c"),
        (_P, ((0, 0.45), (0.5, 0), (1, 0.45)), "d"),
        (_R, (0.4, 0.65, 0.6, 1), "b"),
        (_R, (0.18, 0.5, 0.34, 0.66), "w"),
    ],
    "rock": [
        (_P, ((0, 1), (0.1, 0.4), (0.4, 0.1), (0.8, 0.2), (1, 0.6), (0.95, 1)), "c"),
        (_L, ((0.4, 0.3), (0.6, 0.7)), "d"),
    ],
}

COLORS = {
    "red": (215, 45, 45),
    "blue": (45, 85, 215),
    "green": (45, 165, 65),
    "yellow": (240, 210, 45),
    "purple": (140, 65, 185),
    "orange": (240, 135, 35),
    "pink": (240, 130, 185),
    "brown": (130, 80, 40),
    "black": (35, 35, 35),
    "white": (245, 245, 245),
}
_FIXED = {"k": (25, 25, 25), "w": (250, 250, 250), "g": (40, 140, 50), "y": (250, 225, 80), "b": (110, 70, 35)}


def _shade(rgb: tuple[int, int, int], rng: random.Random) -> tuple[int, int, int]:
    """The same colour name, a slightly different shade per object."""
    return tuple(int(min(255, max(0, v + rng.gauss(0, 12)))) for v in rgb)  # type: ignore[return-value]


def _scenery(d: ImageDraw.ImageDraw, setting: str, size: int, rng: random.Random) -> None:
    """Distractors that are no object kind: clouds, sun, fence, waves, window, rug, snowflakes, road."""
    h = int(size * HORIZON)
    if setting in ("park", "beach", "street", "snow"):
        for _ in range(rng.randint(1, 3)):
            x, y, r = rng.uniform(0, size), rng.uniform(0, h * 0.6), rng.uniform(size * 0.05, size * 0.1)
            d.ellipse([x - 2 * r, y - r, x + 2 * r, y + r], fill=(250, 250, 252))
    if setting in ("park", "beach"):
        r = size // 16
        d.ellipse([size - 3 * r, r, size - r, 3 * r], fill=(255, 235, 90))
    own = _SETTING_SCENERY.get(setting)
    if own is not None:
        own(d, size, h, rng)


def _fence(d: ImageDraw.ImageDraw, size: int, h: int, rng: random.Random) -> None:
    for x in range(0, size, max(4, size // 16)):
        d.line([(x, h - size * 0.06), (x, h)], fill=(160, 120, 80), width=1)
    d.line([(0, h - size * 0.04), (size, h - size * 0.04)], fill=(160, 120, 80), width=1)


def _waves(d: ImageDraw.ImageDraw, size: int, h: int, rng: random.Random) -> None:
    d.rectangle([0, h, size, h + size // 12], fill=(60, 120, 210))
    for x in range(0, size, size // 8):
        d.arc([x, h - 3, x + size // 8, h + 5], 180, 360, fill=(230, 240, 255))


def _window_and_rug(d: ImageDraw.ImageDraw, size: int, h: int, rng: random.Random) -> None:
    d.rectangle([size * 0.38, size * 0.08, size * 0.62, size * 0.3], fill=(200, 230, 250), outline=(90, 70, 50))
    d.ellipse([size * 0.2, size * 0.8, size * 0.8, size * 0.98], fill=(190, 150, 160))


def _snowflakes(d: ImageDraw.ImageDraw, size: int, h: int, rng: random.Random) -> None:
    for _ in range(25):
        x, y = rng.uniform(0, size), rng.uniform(0, size)
        d.ellipse([x - 1, y - 1, x + 1, y + 1], fill=(255, 255, 255))


def _road(d: ImageDraw.ImageDraw, size: int, h: int, rng: random.Random) -> None:
    d.rectangle([0, size * 0.72, size, size * 0.84], fill=(80, 80, 85))
    for x in range(0, size, size // 6):
        d.rectangle([x, size * 0.775, x + size // 12, size * 0.785], fill=(245, 245, 245))


# each setting's own scenery, drawn after the clouds and the sun: (draw, size, horizon y, rng)
_SETTING_SCENERY: dict[str, Callable[[ImageDraw.ImageDraw, int, int, random.Random], None]] = {
    "park": _fence, "beach": _waves, "room": _window_and_rug, "snow": _snowflakes, "street": _road,
}


def _draw_kind(d: ImageDraw.ImageDraw, kind: str, box_px: tuple[float, float, float, float], rgb: tuple[int, int, int],
               rng: random.Random) -> None:
    x0, y0, x1, y1 = box_px
    w, h = x1 - x0, y1 - y0
    main = _shade(rgb, rng)
    dark = tuple(int(v * 0.7) for v in main)
    colours = {"c": main, "d": dark, **_FIXED}

    def pt(p: Sequence[float]) -> tuple[float, float]:
        return (x0 + p[0] * w, y0 + p[1] * h)

    for shape, geom, role in SHAPES[kind]:
        fill = colours[role]
        if shape == _E:
            d.ellipse([*pt(geom[:2]), *pt(geom[2:])], fill=fill, outline=_FIXED["k"] if role == "c" else None)
        elif shape == _R:
            d.rectangle([*pt(geom[:2]), *pt(geom[2:])], fill=fill, outline=_FIXED["k"] if role == "c" else None)
        elif shape == _P:
            d.polygon([pt(p) for p in geom], fill=fill, outline=_FIXED["k"] if role == "c" else None)
        else:
            d.line([pt(p) for p in geom], fill=fill, width=max(1, int(min(w, h) / 10)))


def render(objects: Iterable[SceneObject], setting: str, size: int = 128, seed: str = "") -> Image.Image:
    """The scene as an RGB PIL image of size x size pixels; `seed` fixes shades, scenery and noise."""
    from PIL import Image, ImageDraw

    rng = random.Random(f"draw/{seed}")
    img = Image.new("RGB", (size, size), SKY[setting])
    d = ImageDraw.Draw(img)
    d.rectangle([0, int(size * HORIZON), size, size], fill=GROUND[setting])
    _scenery(d, setting, size, rng)
    for o in sorted(objects, key=lambda o: o.box[3]):  # far (higher bottom edge) first: near ones occlude
        _draw_kind(d, o.name, tuple(v * size for v in o.box), COLORS[o.color], rng)
    pixels = np.asarray(img, dtype=np.int16)
    noise_seed = int(hashlib.sha1(f"noise/{seed}".encode()).hexdigest()[:12], 16)
    noise = np.random.default_rng(noise_seed).normal(0, 5, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8))
