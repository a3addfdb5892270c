"""Parsing a judge's reply into scores, in linear time: JSON first, then the last `criterion: value` match.
A reply that still does not parse is unscored with a reason, never half-scored."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

from vlmgrade.rubrics.model import VERDICTS, Rubric

# What may stand between a criterion's name and its value in a plain reply ("grammar: 8", "**plot** = 7",
# "creativity -> 6"): a bounded run of non-word characters. Bounded and in one class, so that a reply with
# thousands of spaces after a name is read in linear time (nested unbounded \s* made it cubic: 24 s for 800).
SCORE_AFTER_NAME = r"[^\w]{0,16}?(-?\d+(?:\.\d+)?)"
VERDICT_AFTER_NAME = r"[^\w:=]{0,4}[:=][^\w]{0,12}?(A|B|tie)\b"

_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.S)


def parse_reply(rubric: Rubric, text: str) -> tuple[dict[str, float | None], str | None]:
    """Scores from a judge reply: JSON first, then the last `criterion: number` match per criterion.

    Returns (scores, None) when every criterion has a number within its scale, else
    ({criterion: None, ...}, reason). A reply is never half-scored.
    """
    empty = {c.name: None for c in rubric.criteria}
    if not text or not text.strip():
        return empty, "empty reply"
    if rubric.pairwise:
        return _parse_verdicts(rubric, text)
    found = _from_json(rubric, text)
    missing = _fill_from_text(rubric, text, found, SCORE_AFTER_NAME, float)
    if missing:
        return empty, f"unparsable reply: no score for {', '.join(missing)}"
    for c in rubric.criteria:
        if not c.lo <= found[c.name] <= c.hi:
            return empty, f"score {found[c.name]:g} for {c.name} outside its scale {c.lo:g}-{c.hi:g}"
    return {c.name: found[c.name] for c in rubric.criteria}, None


def _fill_from_text(rubric: Rubric, text: str, found: dict, value: str,
                    convert: Callable[[str], float | None]) -> list[str]:
    """The parse fallback: for each criterion JSON did not give, the last `criterion: VALUE` in the text;
    returns the criteria still missing."""
    for c in rubric.criteria:
        if c.name not in found:
            matches = re.findall(rf"{re.escape(c.name)}{value}", text, re.I)
            if matches:
                found[c.name] = convert(matches[-1])
    return [c.name for c in rubric.criteria if c.name not in found]


def _verdict(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    word = value.strip().strip("*\"'.").lower()
    return {name.lower(): share for name, share in VERDICTS.items()}.get(word)


def _parse_verdicts(rubric: Rubric, text: str) -> tuple[dict[str, float | None], str | None]:
    """Pairwise: "A", "B" or "tie" per criterion, from JSON first, then the last `criterion: A` match."""
    found: dict[str, float] = {}
    for data in _json_objects(text):
        found = {c.name: v for c in rubric.criteria if (v := _verdict(data.get(c.name))) is not None}
        if found:
            break
    missing = _fill_from_text(rubric, text, found, VERDICT_AFTER_NAME, _verdict)
    if missing:
        return {c.name: None for c in rubric.criteria}, f"unparsable reply: no verdict (A, B or tie) for " \
            f"{', '.join(missing)}"
    return {c.name: found[c.name] for c in rubric.criteria}, None


def _json_objects(text: str) -> Iterator[dict]:
    """The JSON objects a reply may hold: the whole text, fenced blocks, flat {...} spans (last first)."""
    candidates = [text.strip()]
    fenced = re.findall(r"```(?:json)?\s*(.*?)```", text, re.S)
    candidates += fenced[::-1] + _JSON_OBJECT.findall(text)[::-1]
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except (json.JSONDecodeError, TypeError):
            continue
        if isinstance(data, dict):
            yield data


def _from_json(rubric: Rubric, text: str) -> dict[str, float]:
    for data in _json_objects(text):
        out = {}
        for c in rubric.criteria:
            value = data.get(c.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[c.name] = float(value)
            elif isinstance(value, str) and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", value):
                out[c.name] = float(value)
        if out:
            return out
    return {}
