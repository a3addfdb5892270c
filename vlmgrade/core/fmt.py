"""How numbers read in every table, report and terminal line: one place, so they all agree."""

from __future__ import annotations

from typing import TypeVar

_T = TypeVar("_T")

MISSING = "-"


def num(value: float | None, digits: int = 2) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def interval(low: float | None, high: float | None, digits: int = 2) -> str:
    return f"[{num(low, digits)}, {num(high, digits)}]"


def pvalue(value: float | None) -> str:
    return MISSING if value is None else (f"{value:.2g}" if value < 0.001 else f"{value:.3f}")


def md_cell(value: object) -> str:
    """Text safe inside a Markdown table cell: a `|` or a newline would break the table."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def csv_cell(value: _T) -> _T | str:
    """A CSV value a spreadsheet will not run: text starting with =, +, -, @ (or a tab or CR) that is not a
    number gets a leading apostrophe, as OWASP advises against formula injection."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value
