"""Picture-blind texts the grounded judge must score near zero, and that a model must beat to show it
reads the picture: the `constant` control of `--controls`.

`constant_text()` names every scene kind once ("I see a ball, a box, a cup, ..."): the strongest text that
knows the vocabulary but not the picture, since it covers every kind there is and is true of each kind
that happens to be present. `constant_text("every-colour")` adds every colour to every kind.
"""

from __future__ import annotations

from vlmgrade.data.scenes import layout as scenes
from vlmgrade.data.scenes.drawing import COLORS

CONSTANT_STYLES = ("every-kind", "every-colour")


def _a(words: str) -> str:
    return ("an " if words[0] in "aeiou" else "a ") + words


def constant_text(style: str = "every-kind") -> str:
    if style == "every-kind":
        parts = [_a(k) for k in scenes.KINDS]
    elif style == "every-colour":
        parts = [_a(f"{c} {k}") for k in scenes.KINDS for c in COLORS]
    else:
        raise ValueError(f"unknown constant text {style!r}; choose one of {', '.join(CONSTANT_STYLES)}")
    return "I see " + ", ".join(parts[:-1]) + " and " + parts[-1] + "."
