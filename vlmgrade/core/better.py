"""Which way a criterion reads: one type and one set of helpers for every ranking, comparison, control,
table and plot, so that no reader decides "lower is better" by itself."""

from __future__ import annotations

from enum import Enum


class Better(str, Enum):
    """A str, so that it is written to and read from JSON as "higher" or "lower"."""

    HIGHER = "higher"
    LOWER = "lower"

    @classmethod
    def of(cls, value: object) -> Better:
        """From a YAML or JSON value; missing means higher. Anything else is a ValueError."""
        return cls.HIGHER if value is None else cls(value)

    @property
    def sign(self) -> float:
        """+1 or -1: a difference times the sign is positive when the first is better."""
        return -1.0 if self is Better.LOWER else 1.0

    def oriented(self, value: float) -> float:
        """The value turned so that larger is better (for sorting and paired differences)."""
        return self.sign * value

    def beats(self, a: float, b: float) -> bool:
        return self.oriented(a) > self.oriented(b)

    def label(self, criterion: str) -> str:
        """The criterion's name as tables show it."""
        return f"{criterion} (lower is better)" if self is Better.LOWER else criterion

    def __str__(self) -> str:
        return self.value
