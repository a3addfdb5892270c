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
# A pairwise verdict is read only when it is the whole value: "A", "B" or "tie", in any case, perhaps quoted
# or in bold, perhaps with a full stop. "a slight edge to B", "a tie", "A or B", "A/B" are not verdicts (the
# old `(A|B|tie)\b` read each as A); the value ends at the line's end, a "}", or a ","/";" that starts the
# next `name:` pair.
NAME_SIGN = r"[^\w:=\n]{0,4}[:=]"  # between a criterion's name and its value: "grammar:", "**plot** ="
_QUOTE = "[\"'*`]{0,4}"
WHOLE_VERDICT = re.compile(rf"[ \t]{{0,12}}{_QUOTE}(A|B|tie){_QUOTE}\.?[ \t\r]*"
                           rf"(?:$|\n|\}}|[,;][ \t]*(?:$|\n|\}}|{_QUOTE}\w{{1,64}}{_QUOTE}[ \t]*[:=]))", re.I)

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
    """A JSON value as a verdict: the whole string must be one, give or take quotes, bold and a full stop."""
    if not isinstance(value, str):
        return None
    word = value.strip().strip("*\"'`.").lower()
    return {name.lower(): share for name, share in VERDICTS.items()}.get(word)


def _parse_verdicts(rubric: Rubric, text: str) -> tuple[dict[str, float | None], str | None]:
    """Pairwise: "A", "B" or "tie" per criterion, from JSON first, then the last `criterion: value` in the
    text. A value that is not exactly a verdict leaves the whole reply unscored, with the value shown."""
    empty: dict[str, float | None] = {c.name: None for c in rubric.criteria}
    found, unusable = _json_verdicts(rubric, text)
    for c in rubric.criteria:
        if c.name not in found and c.name not in unusable:
            _text_verdict(c.name, text, found, unusable)
    if unusable:
        name, value = next((c.name, unusable[c.name]) for c in rubric.criteria if c.name in unusable)
        return empty, f"unusable verdict for {name}: {value} (A, B or tie expected)"
    missing = [c.name for c in rubric.criteria if c.name not in found]
    if missing:
        return empty, f"unparsable reply: no verdict (A, B or tie) for {', '.join(missing)}"
    return {c.name: found[c.name] for c in rubric.criteria}, None


def _json_verdicts(rubric: Rubric, text: str) -> tuple[dict[str, float], dict[str, str]]:
    """The verdicts of the first JSON object naming any criterion, and the values there that are none."""
    for data in _json_objects(text):
        named = {c.name: data[c.name] for c in rubric.criteria if c.name in data}
        if named:
            found = {name: v for name, raw in named.items() if (v := _verdict(raw)) is not None}
            return found, {name: _shown(raw) for name, raw in named.items() if name not in found}
    return {}, {}


def _text_verdict(name: str, text: str, found: dict[str, float], unusable: dict[str, str]) -> None:
    """The parse fallback: the value after the last `name:` in the text, when it is a whole verdict."""
    last = None
    for match in re.finditer(rf"{re.escape(name)}{NAME_SIGN}", text, re.I):
        last = match
    if last is None:
        return
    whole = WHOLE_VERDICT.match(text, last.end())
    if whole:
        found[name] = VERDICTS[next(v for v in VERDICTS if v.lower() == whole.group(1).lower())]
    else:
        unusable[name] = _shown(text[last.end():last.end() + 80].strip().split("\n")[0])


def _shown(value: Any) -> str:
    """A value as the unscored reason quotes it: JSON, at most 60 characters."""
    shown = json.dumps(value, ensure_ascii=False)
    return shown if len(shown) <= 60 else shown[:57] + "..."


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
