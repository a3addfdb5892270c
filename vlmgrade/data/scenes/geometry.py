"""What positions and relations mean, from boxes: the one definition the scene texts and the grounded
judge share.

A box is `(x0, y0, x1, y1)` in fractions of the picture's width and height, y growing downwards; a
box's bottom (`y1`) is where it stands on the ground, so a larger bottom is nearer the viewer.

Each predicate has two strengths. The scene texts state a fact only when it holds `clearly` (a margin
away from every boundary), so no reference is ever borderline; the judge accepts a claim when it holds
at all, so a model is never marked wrong on a hair's breadth.
"""

from __future__ import annotations

Box = tuple[float, float, float, float]

RELATIONS = ("next to", "left of", "right of", "on top of", "under", "in front of", "behind", "near", "above", "inside")
# the texts state the first seven; the judge also reads "near", "above" and "inside" when a text says them


def center_x(b: Box) -> float:
    return (b[0] + b[2]) / 2


def width(b: Box) -> float:
    return b[2] - b[0]


def height(b: Box) -> float:
    return b[3] - b[1]


def x_overlap(a: Box, b: Box) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0]))


def y_overlap(a: Box, b: Box) -> float:
    return max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def gap_x(a: Box, b: Box) -> float:
    """Horizontal empty space between two boxes (0 when they overlap in x)."""
    return max(0.0, max(a[0], b[0]) - min(a[2], b[2]))


def clear_position(b: Box) -> str | None:
    """Left, middle or right third of the picture by the box's centre, when it is clearly one; else None."""
    x = center_x(b)
    return "left" if x < 0.30 else "right" if x > 0.70 else "middle" if 0.37 < x < 0.63 else None


def position_holds(b: Box, where: str) -> bool:
    """The judge's reading of a position claim: the centre within (a little past) that third."""
    x = center_x(b)
    return {"left": x <= 0.42, "middle": 0.25 <= x <= 0.75, "right": x >= 0.58}[where]


def stacked(top: Box, bottom: Box, clearly: bool = False) -> bool:
    """`top` rests on `bottom`: its bottom edge near the other's top edge, over it, and higher up."""
    over = x_overlap(top, bottom) >= (0.8 if clearly else 0.4) * width(top)
    near = abs(top[3] - bottom[1]) <= (0.03 if clearly else 0.35 * height(bottom) + 0.03)
    return over and near and top[3] < bottom[3]


def relation_holds(a: Box, rel: str, b: Box, clearly: bool = False) -> bool:
    """Whether `a REL b` is true of the two boxes."""
    if rel == "left of":
        return center_x(a) < center_x(b) - (0.15 if clearly else 0.0) and (not clearly or a[2] <= b[0])
    if rel == "right of":
        return relation_holds(b, "left of", a, clearly)
    if rel == "next to":
        close = gap_x(a, b) <= (0.06 if clearly else 0.12)
        level = y_overlap(a, b) >= (0.5 if clearly else 0.2) * min(height(a), height(b))
        apart = x_overlap(a, b) <= (0.1 if clearly else 0.5) * min(width(a), width(b))
        return close and level and apart and not stacked(a, b) and not stacked(b, a)
    if rel == "on top of":
        return stacked(a, b, clearly)
    if rel == "under":
        return stacked(b, a, clearly)
    if rel == "in front of":
        overlapping = x_overlap(a, b) >= (0.25 if clearly else 0.05) * min(width(a), width(b))
        nearer = a[3] > b[3] + (0.05 if clearly else 0.0)
        return overlapping and nearer and not stacked(a, b) and not stacked(b, a)
    if rel == "behind":
        return relation_holds(b, "in front of", a, clearly)
    if rel == "near":  # close in both directions, overlapping or not
        gap_y = max(0.0, max(a[1], b[1]) - min(a[3], b[3]))
        return max(gap_x(a, b), gap_y) <= (0.06 if clearly else 0.15)
    if rel == "above":  # higher up and over it: resting on it, or floating above
        over = x_overlap(a, b) >= (0.5 if clearly else 0.3) * min(width(a), width(b))
        return over and a[3] <= b[1] + (0.0 if clearly else 0.35 * height(b) + 0.03)
    if rel == "inside":  # nothing in these pictures is drawn inside another: the box almost within the other's
        inner = x_overlap(a, b) * y_overlap(a, b)
        return inner >= (0.95 if clearly else 0.8) * width(a) * height(a)
    raise ValueError(f"unknown relation {rel!r}")
