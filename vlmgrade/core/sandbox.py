"""The one Jinja sandbox for templates users write (rubric prompts, the data builder's prompt): no Python
internals reachable, no undefined variable silently dropped, and every loop and product bounded in what it
builds, so a template is an error, not a hang or gigabytes."""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MAX_RENDERED = 200_000  # characters of a rendered prompt: a template that multiplies strings stops here


def sandbox_environment() -> Any:
    """A Jinja sandbox with StrictUndefined whose loops and products are bounded."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    class Bounded(SandboxedEnvironment):
        """The sandbox, with loops and string products bounded: `range(10**9)` or `"x" * 10**9` in a
        custom rubric is an error, not a hang or gigabytes."""

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "*" and isinstance(left, (str, list)) and isinstance(right, int) and \
                    len(left) * right > MAX_RENDERED:
                raise SecurityError(f"a product of {len(left) * right} items exceeds {MAX_RENDERED}")
            if operator == "**" and isinstance(right, (int, float)) and right > 64:
                raise SecurityError("a power above 64")
            return super().call_binop(context, operator, left, right)

    from jinja2.exceptions import SecurityError

    env = Bounded(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
                  autoescape=False)
    env.intercepted_binops = frozenset({"*", "**"})
    env.globals["range"] = _bounded_range
    return env


_STEPS: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_steps")
MAX_STEPS = 1_000_000  # loop iterations over `range` in one rendering, nested loops included


class _Range:
    """`range` for templates: at most 10,000 items, and all loops of one rendering share MAX_STEPS, so
    nested loops end in an error instead of running for hours."""

    def __init__(self, *args: int) -> None:
        from jinja2.exceptions import SecurityError

        self.r = range(*args)
        if len(self.r) > 10_000:
            raise SecurityError(f"range of {len(self.r)} items (at most 10,000 in a rubric template)")

    def __len__(self) -> int:
        return len(self.r)

    def __iter__(self) -> Iterator[int]:
        from jinja2.exceptions import SecurityError

        steps = _STEPS.get(None)
        for item in self.r:
            if steps is not None:
                steps[0] += 1
                if steps[0] > MAX_STEPS:
                    raise SecurityError(f"more than {MAX_STEPS} loop steps in one rendering")
            yield item


def _bounded_range(*args: int) -> _Range:
    return _Range(*args)


@contextmanager
def counted_steps() -> Iterator[None]:
    """Within it, every `range` loop of the renderings counts towards one MAX_STEPS."""
    token = _STEPS.set([0])
    try:
        yield
    finally:
        _STEPS.reset(token)
