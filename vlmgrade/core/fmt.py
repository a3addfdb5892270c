"""How numbers and names read in every table, report and terminal line: one place, so they all agree.

Names, labels and texts come from users, models and judges: before they reach a terminal, report.md or a
Markdown table they lose every control character (a newline would start a heading, an escape sequence would
drive the terminal, a bidi override would reverse what is read), and in Markdown the characters that would
open HTML, a link or a code span are escaped. JSON is written with `json_text`: never NaN or Infinity."""

from __future__ import annotations

import json
import math
import re
from typing import Any, TypeVar

_T = TypeVar("_T")

MISSING = "-"

# C0 and C1 controls (newline, tab, escape, ...), the Unicode line and paragraph separators, the bidi
# embeddings, overrides and isolates, and lone surrogates (unencodable: writing them fails)
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_BREAKS = frozenset("\t\n\v\f\r\x1c\x1d\x1e\x85\u2028\u2029")
_MD_SPECIAL = re.compile(r"([\\|<>&`])")


def num(value: float | None, digits: int = 2) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def interval(low: float | None, high: float | None, digits: int = 2) -> str:
    return f"[{num(low, digits)}, {num(high, digits)}]"


def pvalue(value: float | None) -> str:
    return MISSING if value is None else (f"{value:.2g}" if value < 0.001 else f"{value:.3f}")


def unprintable(text: str) -> str | None:
    """The first character of `text` that has no place in a name (a control character, a line break, a
    bidi control, a lone surrogate), or None."""
    found = _UNPRINTABLE.search(text)
    return found.group() if found else None


def describe_char(ch: str) -> str:
    """A character as a message can show it: its code point and its Unicode name, or what kind it is."""
    import unicodedata

    kind = {"Cc": "a control character", "Cs": "a lone surrogate"}.get(unicodedata.category(ch), "")
    return f"U+{ord(ch):04X} ({unicodedata.name(ch, '') or kind or 'unnamed'})"


def printable(value: object) -> str:
    """One line of plain text: line breaks and tabs become spaces, every other control character (an
    escape sequence, a bidi override) and any lone surrogate becomes U+FFFD."""
    text = str(value)
    if _UNPRINTABLE.search(text) is None:
        return text
    return _UNPRINTABLE.sub(lambda m: " " if m.group() in _BREAKS else "\ufffd", text)


def md_cell(value: object) -> str:
    """Text safe in Markdown, in a table cell or a line of prose: one line (no heading or list can start),
    `|` escaped (a table keeps its columns), `<`, `>` and `&` escaped (no HTML, no entity), backticks escaped
    (no code span), and `](` broken (no link or image)."""
    return _MD_SPECIAL.sub(r"\\\1", printable(value)).replace("](", "]\\(")


def md_code(value: object) -> str:
    """Text as a Markdown code span: one line, fenced with more backticks than it holds in a row (a
    backtick in a name cannot close the span; nothing inside a span is read as HTML)."""
    text = printable(value)
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def csv_cell(value: _T) -> _T | str:
    """A CSV value a spreadsheet will not run: text starting with =, +, -, @ (or a tab or CR) that is not a
    number gets a leading apostrophe, as OWASP advises against formula injection."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


def finite(value: Any) -> Any:
    """`value` with every float that is NaN or infinite (at any depth of dicts, lists and tuples) as None:
    what JSON can hold."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def json_text(value: Any, **kwargs: Any) -> str:
    """JSON as every vlmgrade file and `--format json` output writes it: valid JSON, never NaN or Infinity
    (a figure that is not finite is null)."""
    return json.dumps(finite(value), allow_nan=False, **kwargs)
