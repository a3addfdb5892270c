"""How numbers read in every table, report and terminal line: one place, so they all agree."""

from __future__ import annotations

MISSING = "-"


def num(value: float | None, digits: int = 2) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def interval(low: float | None, high: float | None, digits: int = 2) -> str:
    return f"[{num(low, digits)}, {num(high, digits)}]"


def pvalue(value: float | None) -> str:
    return MISSING if value is None else (f"{value:.2g}" if value < 0.001 else f"{value:.3f}")
