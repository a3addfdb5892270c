"""The one Jinja sandbox for templates users write (rubric prompts, the data builder's prompt): no Python
internals reachable, no undefined variable silently dropped, and every expression bounded in what it builds,
so a template is an error, not a hang or gigabytes.

The bound is one size, MAX_VALUE, measured before the value exists wherever Python would build it in one
step ('%0999999999d' % 1, 'x'|center(10**9), a list doubled in a loop): a value's size is the characters it
becomes as text (a list counts its items' sizes, every reference again, as str() would write them; an
integer its digits). Operators (+ - * % **), `~`, filters, str methods, `{{ }}` output and the text a
rendering, macro or block collects are all held to it. Lists and dicts cannot be changed in place
(`l.append`), so a value only grows through those checked steps."""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, MappingView, Set
from contextlib import contextmanager
from typing import Any

from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError
from jinja2.runtime import BlockReference
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEscapeFormatter, SandboxedFormatter
from jinja2.utils import Namespace

MAX_RENDERED = 200_000  # characters of a rendered prompt (checked by rubrics.render)
MAX_VALUE = 1_000_000  # characters any one value, or one rendering's text, may become (about 1 MB)
MAX_JSON_INDENT = 64  # `tojson(indent=N)` builds N spaces per nesting level on every line


def sandbox_environment() -> Any:
    """A Jinja sandbox with StrictUndefined, immutable containers and every value's size bounded."""
    from jinja2 import StrictUndefined
    from jinja2.utils import generate_lorem_ipsum

    env = Bounded(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
                  autoescape=False, finalize=_finalize)
    env.intercepted_binops = frozenset({"+", "-", "*", "%", "**"})
    env.globals["range"] = _bounded_range
    env.globals["lipsum"] = _bounded(generate_lorem_ipsum, "lipsum", _lipsum_size)
    env.filters = {name: _bounded(f, f"the {name} filter", _FILTER_SIZES.get(name), name in _TEXT_FILTERS,
                                  name in _MATERIALIZED) for name, f in env.filters.items()}
    env.policies["json.dumps_function"] = _bounded_json
    return env


class Bounded(ImmutableSandboxedEnvironment):
    """The immutable sandbox whose operators, calls, `~` joins and collected text are size-checked."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.code_generator_class = _BoundedCodeGenerator
        # every rendering, macro, call block and `{% set %}` block joins its pieces through `concat`
        self.concat = _bounded_concat  # type: ignore[method-assign]

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and right > 64:
            raise SecurityError("a power above 64")
        _refuse_over(_binop_size(operator, left, right), f"'{operator}'")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if isinstance(__obj, BlockReference):  # its text is joined outside `concat`, unbounded
            raise SecurityError("calling a block (self.NAME() or super()) in a template")
        owner, name = getattr(__obj, "__self__", None), getattr(__obj, "__name__", "")
        if isinstance(owner, (str, bytes)) and name in _STR_SIZES:
            if name == "join" and args:  # measured before it is joined, so a generator is read once, here
                args = (_listed(args[0]), *args[1:])
            _refuse_over(_estimate(_STR_SIZES[name], owner, *args, **kwargs), f"str.{name}")
        return _checked(super().call(__context, __obj, *args, **kwargs), f"calling {name or 'a function'}")

    def joined(self, items: tuple) -> str:
        """`a ~ b ~ c`: Jinja's str_join, measured first."""
        _refuse_over(sum(_size(item) for item in items), "'~'")
        return "".join(map(str, items))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format / format_map through a formatter that measures each field before it is written."""
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text = value.__self__
        formatter = _BoundedEscapeFormatter(self, escape=text.escape) if hasattr(text, "__html__") \
            else _BoundedFormatter(self)

        def bounded(*args: Any, **kwargs: Any) -> str:
            if value.__name__ == "format_map":
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                args, kwargs = (), args[0]
            return type(text)(formatter.vformat(text, args, kwargs))

        return functools.update_wrapper(bounded, value)


class _BoundedCodeGenerator(CodeGenerator):
    def visit_Concat(self, node: Any, frame: Any) -> None:  # noqa: N802 - Jinja's visitor naming
        self.write("environment.joined((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _MeasuredFields:
    """A str.format formatter mixin: each field is measured before it becomes text, and the text one call
    writes is counted, so neither '{:>999999999}' nor '{0}' * 500000 builds past MAX_VALUE."""

    written = 0

    def vformat(self, format_string: str, args: Any, kwargs: Any) -> str:
        self.written = 0
        return super().vformat(format_string, args, kwargs)  # type: ignore[misc]

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        _refuse_over(_size(value), "str.format")
        return super().convert_field(value, conversion)  # type: ignore[misc]

    def format_field(self, value: Any, format_spec: str) -> Any:
        _refuse_over(max([_size(value), *map(_number, re.findall(r"\d+", format_spec))]), "str.format")
        text = super().format_field(value, format_spec)  # type: ignore[misc]
        self.written += len(text)
        _refuse_over(self.written, "str.format")
        return text


class _BoundedFormatter(_MeasuredFields, SandboxedFormatter):
    pass


class _BoundedEscapeFormatter(_MeasuredFields, SandboxedEscapeFormatter):
    pass


# ------------------------------------------------------------------ sizes
def _size(value: Any, limit: int = MAX_VALUE) -> int:
    """The characters `value` becomes as text, counted until just past `limit`: strings their length,
    integers their digits, containers their items plus separators, every reference again (as str() writes
    a list that holds one list twice). Walked without recursion, so a deeply nested list is no error here."""
    total, stack = 0, [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, (str, bytes)):
            total += len(v)
        elif isinstance(v, int):
            total += v.bit_length() // 3 + 1  # at least its decimal digits
        elif isinstance(v, float):
            total += 24
        elif isinstance(v, Namespace):
            stack.append(object.__getattribute__(v, "_Namespace__attrs"))  # its repr writes its attributes
        elif isinstance(v, (Mapping, list, tuple, Set, MappingView)):
            total += 4 * len(v) + 2
            if total <= limit:
                stack.extend(v.items() if isinstance(v, Mapping) else v)
        else:
            total += 1
    return total


def _number(digits: str) -> int:
    return int(digits) if len(digits) <= 9 else MAX_VALUE + 1


def _int(value: Any) -> int:
    """A count or width as given, or 0 when it is none (the call itself then reports the wrong type)."""
    return value if isinstance(value, int) else 0


def _refuse_over(size: int, what: str) -> None:
    if size > MAX_VALUE:
        raise SecurityError(f"{what} would build a value of {'over ' if size > 10**12 else ''}"
                            f"{min(size, 10**12):,} characters; a template value holds at most {MAX_VALUE:,}")


def _checked(value: Any, what: str) -> Any:
    """A value built by a step with no estimate beforehand (or as a second check): refused when too big."""
    _refuse_over(_size(value), what)
    return value


def _estimate(size_of: Callable[..., int], *args: Any, **kwargs: Any) -> int:
    """An estimate function over a call's arguments; arguments it cannot take are the call's own error."""
    try:
        return size_of(*args, **kwargs)
    except (TypeError, ValueError):
        return 0


def _listed(items: Any) -> Any:
    return items if isinstance(items, (str, bytes, list, tuple, Mapping, Set)) else list(items)


def _text(value: Any) -> Any:
    """The text a filter makes of its value (str(value)), measured first."""
    if isinstance(value, (str, bytes)):
        return value
    _refuse_over(_size(value), "converting a value to text")
    return str(value)


def _bounded_concat(pieces: Iterable[str]) -> str:
    """Jinja's concat ("".join) for whole renderings, macros and blocks: stops at MAX_VALUE characters
    instead of collecting a loop's gigabyte of template text."""
    kept, total = [], 0
    for piece in pieces:
        total += len(piece)
        if total > MAX_VALUE:
            raise SecurityError(f"the rendered text exceeds {MAX_VALUE:,} characters")
        kept.append(piece)
    return "".join(kept)


def _finalize(value: Any) -> Any:
    """Every `{{ }}` value, measured before it becomes text."""
    if not isinstance(value, str):
        _refuse_over(_size(value), "a {{ }} expression")
    return value


# ------------------------------------------------------------------ operators
def _binop_size(operator: str, left: Any, right: Any) -> int:
    """The size an operator's result would have, before it is computed."""
    if operator in ("+", "-") and isinstance(left, int) and isinstance(right, int):
        return (max(left.bit_length(), right.bit_length()) + 1) // 3 + 1
    if operator == "+" and not isinstance(left, (int, float)):
        return _size(left) + _size(right)
    if operator == "*":
        if isinstance(left, int) and isinstance(right, int):
            return (left.bit_length() + right.bit_length()) // 3 + 1
        if isinstance(left, int):
            left, right = right, left
        return _size(left) * right if isinstance(right, int) and not isinstance(left, float) else 0
    if operator == "%" and isinstance(left, (str, bytes)):
        return _printf_size(left, right)
    if operator == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
        return left.bit_length() * right // 3 + 1
    return 0


# a printf conversion: %[(key)][flags][width][.precision][length]type
_PRINTF = re.compile(r"%(\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)


def _printf_size(fmt: str | bytes, args: Any) -> int:
    """`fmt % args`, measured before Python pads '%0999999999d' or repeats '%(a)s' a million times."""
    text = fmt.decode("latin-1") if isinstance(fmt, bytes) else fmt
    conversions = [c for c in _PRINTF.findall(text) if c[3] != "%"]
    widest = max((_number(n) for c in conversions for n in c[1:3] if n and n != "*"), default=0)
    items = args if isinstance(args, tuple) else (args,)
    if any("*" in c[1:3] for c in conversions):  # widths taken from the arguments
        widest = max([widest, *(abs(a) for a in items if isinstance(a, int))])
    if isinstance(args, Mapping) and any(c[0] for c in conversions):  # '%(a)s' may name one value many times
        given = len(conversions) * max((_size(v) for v in args.values()), default=0)
    else:
        given = sum(_size(a) for a in items)
    return len(fmt) + len(conversions) * widest + given


# ------------------------------------------------------------------ str methods and filters
def _padded(s: Any, width: Any = 80, *rest: Any) -> int:
    return max(_size(s), _int(width))


def _replaced(s: Any, old: Any, new: Any, count: Any = -1) -> int:
    text = _text(s)
    old, new = str(old) if isinstance(text, str) else old, str(new) if isinstance(text, str) else new
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(0, len(new) - len(old))


def _joined(items: Any, sep: Any = "", attribute: Any = None) -> int:
    return _size(items) + len(_text(sep)) * len(items)


def _translated(s: Any, table: Any, *rest: Any) -> int:
    if isinstance(s, bytes):  # a bytes table maps a byte to a byte
        return len(s)
    values = table.values() if isinstance(table, Mapping) else [table]
    return len(s) * (1 + max((_size(v) for v in values), default=0))


_STR_SIZES: dict[str, Callable[..., int]] = {
    "center": _padded, "ljust": _padded, "rjust": _padded, "zfill": _padded, "replace": _replaced,
    "join": lambda sep, items: _joined(items, sep), "translate": _translated,
    "expandtabs": lambda s, tabsize=8: len(s) + s.count("\t" if isinstance(s, str) else b"\t") * _int(tabsize),
}


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> int:
    return _printf_size(_text(value), kwargs or args)


def _indented(s: Any, width: Any = 4, *rest: Any) -> int:
    text = _text(s)
    per_line = len(width) if isinstance(width, str) else _int(width)
    return len(text) + (text.count("\n") + 1) * per_line


def _wrapped(s: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None, *rest: Any) -> int:
    text = _text(s)
    breaks = sum(map(text.count, " \t\n")) + len(text) // max(1, _int(width))  # a line ends at a space or width
    lines = min(len(text), breaks) + 1
    return len(text) + lines * (len(wrapstring) if isinstance(wrapstring, str) else 2)


def _urlized(value: Any, trim_url_limit: Any = None, nofollow: Any = False, target: Any = None,
             rel: Any = None, *rest: Any) -> int:
    text = _text(value)
    return 3 * len(text) + (sum(map(text.count, " \t\n")) + 1) * (_size(target) + _size(rel) + 64)


def _filled(value: Any, count: Any, fill_with: Any = None) -> int:
    return _size(value) + (0 if fill_with is None else _int(count) * (_size(fill_with) + 4))


def _sliced(value: Any, slices: Any, fill_with: Any = None) -> int:
    return _size(value) + _int(slices) * (_size(fill_with) + 4)


def _summed(iterable: Any, attribute: Any = None, start: Any = 0) -> int:
    return _size(iterable) + _size(start)


def _lipsum_size(n: Any = 5, html: Any = True, min: Any = 20, max: Any = 100) -> int:  # noqa: A002
    return _int(n) * _int(max) * 13  # a word of the lorem vocabulary is at most 12 letters and a space


# filters whose result is estimated from their arguments before they run (the value first, after any
# context/environment argument Jinja passes)
_FILTER_SIZES: dict[str, Callable[..., int]] = {
    "format": _format_filter, "replace": _replaced, "center": _padded, "indent": _indented, "wordwrap": _wrapped,
    "join": _joined, "urlize": _urlized, "batch": _filled, "slice": _sliced, "sum": _summed,
}
_MATERIALIZED = {"join", "sum"}  # filters whose iterable is read into a list first, to be measured
# filters that make text of their value (str(value)): a list that holds itself many times is refused first
_TEXT_FILTERS = {"capitalize", "e", "escape", "forceescape", "lower", "pprint", "safe", "string", "striptags",
                 "title", "trim", "truncate", "upper", "urlencode", "wordcount", "xmlattr"}


def _bounded(func: Callable, what: str, size_of: Callable[..., int] | None = None, text: bool = False,
             listed: bool = False) -> Callable:
    """`func` with its result estimated beforehand (size_of over its arguments), its value measured first
    when it will make text of it (text), an iterable value read into a list to be measured (listed), and
    its result measured afterwards."""
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0  # the context Jinja passes first

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        if listed and len(args) > skip:
            args = (*args[:skip], _listed(args[skip]), *args[skip + 1:])
        if size_of is not None:
            _refuse_over(_estimate(size_of, *args[skip:], **kwargs), what)
        elif text and len(args) > skip:
            _refuse_over(_size(args[skip]), what)
        return _checked(func(*args, **kwargs), what)

    return bounded


def _bounded_json(obj: Any, **kwargs: Any) -> str:
    """`tojson`'s dumps: the value measured first, the indent bounded, the text collected up to MAX_VALUE."""
    import json

    _refuse_over(_size(obj), "the tojson filter")
    indent = kwargs.get("indent")
    if (len(indent) if isinstance(indent, str) else _int(indent)) > MAX_JSON_INDENT:
        raise SecurityError(f"a tojson indent above {MAX_JSON_INDENT}")
    return _bounded_concat(json.JSONEncoder(**kwargs).iterencode(obj))


# ------------------------------------------------------------------ loops
_STEPS: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_steps")
MAX_STEPS = 1_000_000  # loop iterations over `range` in one rendering, nested loops included


class _Range:
    """`range` for templates: at most 10,000 items, and all loops of one rendering share MAX_STEPS, so
    nested loops end in an error instead of running for hours."""

    def __init__(self, *args: int) -> None:
        self.r = range(*args)
        if len(self.r) > 10_000:
            raise SecurityError(f"range of {len(self.r)} items (at most 10,000 in a rubric template)")

    def __len__(self) -> int:
        return len(self.r)

    def __iter__(self) -> Iterator[int]:
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
