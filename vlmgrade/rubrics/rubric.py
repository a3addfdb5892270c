"""Rubrics: YAML data plus a Jinja prompt, rendered in a sandbox; and parsing of judge replies.

A rubric never executes code: templates render in `SandboxedEnvironment` with `StrictUndefined`, so a
custom rubric can neither reach Python internals nor silently drop a variable. The rubric's content
hash (of its whole YAML text) goes into every judgment's cache key: an edited rubric pays again.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from vlmgrade.core.assets import rubrics_dir
from vlmgrade.core.errors import UserError
from vlmgrade.core.files import read_yaml
from vlmgrade.core.types import Caption, Sample

GROUNDED = "grounded"
RESERVED = {"feedback"}  # keys of the judge's reply that are not criteria
MAX_RENDERED = 200_000  # characters of a rendered prompt: a template that multiplies strings stops here
OFFLINE_JUDGES = (GROUNDED, "references", "memorisation")  # computed here, never sent to an LLM
VERDICTS = {"A": 1.0, "B": 0.0, "tie": 0.5}  # a pairwise verdict as a number: the share of the win A gets


@dataclass(frozen=True)
class Criterion:
    name: str
    description: str
    lo: float
    hi: float
    better: str = "higher"  # or "lower": which way every table, rank and plot reads this criterion
    controls: tuple[str, ...] = ("shuffled",)  # the judge controls the reference must beat on it (controls.py)


@dataclass(frozen=True)
class Rubric:
    name: str
    version: str
    description: str
    criteria: tuple[Criterion, ...]
    prompt: str
    system: str | None = None
    judge: dict = field(default_factory=dict)  # defaults: model, temperature, image, logprobs
    hash: str = ""
    path: str = ""
    kind: str = "absolute"  # or "pairwise": the judge sees two completions and answers A, B or tie

    @property
    def pairwise(self) -> bool:
        return self.kind == "pairwise"

    @property
    def offline(self) -> bool:
        """Scored here (from annotations or references), never sent to an LLM; works beside any judge."""
        return self.judge.get("model") in OFFLINE_JUDGES


def builtin_names() -> list[str]:
    return sorted(p.stem for p in rubrics_dir().glob("*.yaml"))


def load_rubric(name_or_path: str) -> Rubric:
    path = Path(name_or_path)
    if not path.exists():
        builtin = rubrics_dir() / f"{name_or_path}.yaml"
        if "/" in name_or_path or name_or_path.endswith((".yaml", ".yml")) or not builtin.exists():
            raise UserError(f"unknown rubric {name_or_path!r}: not a file nor a built-in "
                            f"({', '.join(builtin_names())})")
        path = builtin
    raw = read_yaml(path, "rubric")
    rubric = _validate(raw, path)
    _compile(rubric)  # template syntax errors surface at load, not mid-run
    return rubric


def _validate(raw, path: Path) -> Rubric:
    where = f"rubric {path}"
    if not isinstance(raw, dict):
        raise UserError(f"{where} must be a YAML mapping")
    for key in ("name", "criteria", "prompt"):
        if key not in raw:
            raise UserError(f"{where}: missing required key '{key}'")
    unknown = set(raw) - {"name", "version", "description", "kind", "criteria", "judge", "system", "prompt"}
    if unknown:
        raise UserError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    kind = raw.get("kind", "absolute")
    if kind not in ("absolute", "pairwise"):
        raise UserError(f"{where}: kind must be 'absolute' or 'pairwise', not {kind!r}")
    if not isinstance(raw["criteria"], dict) or not raw["criteria"]:
        raise UserError(f"{where}: 'criteria' must map each criterion name to {{description, scale: [lo, hi]}}")
    criteria = []
    for name, spec in raw["criteria"].items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", name):
            raise UserError(f"{where}: criterion name {name!r} must be a word of letters, digits, _ or - "
                            "(at most 64, starting with a letter)")
        if name in RESERVED:
            raise UserError(f"{where}: {name!r} is reserved (the judge's reply uses it); rename the criterion")
        if kind == "pairwise":  # a verdict, A (1), B (0) or tie (0.5): no scale to give
            if not isinstance(spec, dict) or "scale" in spec:
                raise UserError(f"{where}: pairwise criterion {name!r} takes a description and no scale")
            criteria.append(Criterion(str(name), str(spec.get("description", "")).strip(), 0.0, 1.0, "higher", ()))
            continue
        scale = spec.get("scale") if isinstance(spec, dict) else None
        if (not isinstance(scale, list) or len(scale) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in scale)
                or scale[0] >= scale[1]):
            raise UserError(f"{where}: criterion {name!r} needs scale: [lo, hi], finite numbers with lo < hi")
        better = spec.get("better", "higher")
        if better not in ("higher", "lower"):
            raise UserError(f"{where}: criterion {name!r}: better must be 'higher' or 'lower', not {better!r}")
        controls = spec.get("controls", ["shuffled"])
        if not isinstance(controls, list) or not set(controls) <= {"shuffled", "other", "empty"}:
            raise UserError(f"{where}: criterion {name!r}: controls must be a list of shuffled, other, empty")
        criteria.append(Criterion(str(name), str(spec.get("description", "")).strip(), scale[0], scale[1], better,
                                  tuple(controls)))
    judge = raw.get("judge") or {}
    if not isinstance(judge, dict):
        raise UserError(f"{where}: 'judge' must be a mapping (model, temperature, image, logprobs)")
    judge = {"model": "gpt-4o", "temperature": 0.0, "image": False, "logprobs": False, **judge}
    if not isinstance(raw["prompt"], str):
        raise UserError(f"{where}: 'prompt' must be a Jinja template string")
    if raw.get("system") is not None and not isinstance(raw["system"], str):
        raise UserError(f"{where}: 'system' must be a string (a Jinja template)")
    digest = hashlib.sha256(yaml.safe_dump(raw, sort_keys=True).encode()).hexdigest()[:16]
    return Rubric(name=str(raw["name"]), version=str(raw.get("version", "1")),
                  description=" ".join(str(raw.get("description", "")).split()), criteria=tuple(criteria),
                  prompt=raw["prompt"], system=raw.get("system"), judge=judge, hash=digest, path=str(path),
                  kind=kind)


def _environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    class Bounded(SandboxedEnvironment):
        """The sandbox, with loops and string products bounded: `range(10**9)` or `"x" * 10**9` in a
        custom rubric is an error, not a hang or gigabytes."""

        def call_binop(self, context, operator, left, right):
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

    def __init__(self, *args) -> None:
        from jinja2.exceptions import SecurityError

        self.r = range(*args)
        if len(self.r) > 10_000:
            raise SecurityError(f"range of {len(self.r)} items (at most 10,000 in a rubric template)")

    def __len__(self) -> int:
        return len(self.r)

    def __iter__(self):
        from jinja2.exceptions import SecurityError

        steps = _STEPS.get(None)
        for item in self.r:
            if steps is not None:
                steps[0] += 1
                if steps[0] > MAX_STEPS:
                    raise SecurityError(f"more than {MAX_STEPS} loop steps in one rendering")
            yield item


def _bounded_range(*args) -> _Range:
    return _Range(*args)


_COMPILED: dict[tuple[str, str | None], tuple] = {}  # templates compile once per text, not per request
_FIXED_SYSTEM: dict[tuple[str, str], str] = {}  # (rubric hash, system text) -> the system prompt, rendered once


def _compile(rubric: Rubric):
    from jinja2 import TemplateSyntaxError

    key = (rubric.prompt, rubric.system)
    if key in _COMPILED:
        return _COMPILED[key]
    from jinja2 import meta

    env = _environment()
    try:
        prompt = env.from_string(rubric.prompt)
        system = env.from_string(rubric.system) if rubric.system else None
        # a system prompt that reads nothing but the criteria is the same for every request of the rubric
        fixed = system is not None and meta.find_undeclared_variables(env.parse(rubric.system)) <= {"criteria"}
    except TemplateSyntaxError as e:
        raise UserError(f"rubric {rubric.name}: template syntax error on line {e.lineno}: {e.message}") from None
    _COMPILED[key] = prompt, system, fixed
    return _COMPILED[key]


def template_context(rubric: Rubric, sample: Sample, caption: Caption, second: Caption | None = None) -> dict:
    """Plain data only: the template sees no Python objects it could walk from. A pairwise rubric sees
    `a` and `b` (the two completions, texts only: the judge must not know which model wrote which)."""
    context = {
        "sample": {"id": sample.id, "prefix": sample.prefix, "references": list(sample.references),
                   "objects": [o.to_dict() for o in sample.objects], "meta": dict(sample.meta)},
        "criteria": [{"name": c.name, "description": c.description, "scale": [c.lo, c.hi]} for c in rubric.criteria],
    }
    if rubric.pairwise:
        context.update(a={"text": caption.text}, b={"text": second.text if second else ""})
    else:
        context["caption"] = {"text": caption.text, "model": caption.model}
    return context


def render(rubric: Rubric, sample: Sample, caption: Caption, second: Caption | None = None) -> tuple[str | None, str]:
    """(system text or None, user prompt text); template errors become one-line UserErrors."""
    from jinja2 import TemplateError, UndefinedError
    from jinja2.exceptions import SecurityError

    prompt, system, fixed = _compile(rubric)
    context = template_context(rubric, sample, caption, second)
    fixed_key = (rubric.hash, rubric.system) if fixed and rubric.hash else None
    token = _STEPS.set([0])
    try:
        system_text = _FIXED_SYSTEM.get(fixed_key) if fixed_key else None
        if system_text is None and system is not None:
            system_text = system.render(context).strip()
            if fixed_key:
                _FIXED_SYSTEM[fixed_key] = system_text
        rendered = system_text, prompt.render(context).strip()
    except RecursionError:
        raise UserError(f"rubric {rubric.name}: template recursion too deep") from None
    except UndefinedError as e:
        raise UserError(f"rubric {rubric.name}: template uses an undefined variable: {e.message}") from None
    except SecurityError as e:
        raise UserError(f"rubric {rubric.name}: template refused by the sandbox: {e}") from None
    except TemplateError as e:
        raise UserError(f"rubric {rubric.name}: template error: {e}") from None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as e:
        raise UserError(f"rubric {rubric.name}: template error: {type(e).__name__}: {e}") from None
    finally:
        _STEPS.reset(token)
    if sum(len(t or "") for t in rendered) > MAX_RENDERED:
        raise UserError(f"rubric {rubric.name}: the rendered prompt exceeds {MAX_RENDERED} characters")
    return rendered


def json_schema(rubric: Rubric) -> dict:
    """The structured-output schema sent with each request: one bounded number per criterion."""
    props: dict = {}
    for c in rubric.criteria:
        if rubric.pairwise:
            props[c.name] = {"type": "string", "enum": list(VERDICTS), "description": c.description}
            continue
        integral = float(c.lo).is_integer() and float(c.hi).is_integer() and c.hi - c.lo >= 2
        props[c.name] = {"type": "integer" if integral else "number", "minimum": c.lo, "maximum": c.hi,
                         "description": c.description}
    props["feedback"] = {"type": "string"}
    return {"type": "object", "properties": props, "required": [*(c.name for c in rubric.criteria), "feedback"],
            "additionalProperties": False}


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
    missing = _fill_from_text(rubric, text, found, r"[:=]?\s*\**\s*(-?\d+(?:\.\d+)?)", float)
    if missing:
        return empty, f"unparsable reply: no score for {', '.join(missing)}"
    for c in rubric.criteria:
        if not c.lo <= found[c.name] <= c.hi:
            return empty, f"score {found[c.name]:g} for {c.name} outside its scale {c.lo:g}-{c.hi:g}"
    return {c.name: found[c.name] for c in rubric.criteria}, None


def _fill_from_text(rubric: Rubric, text: str, found: dict, value: str, convert) -> list[str]:
    """The parse fallback: for each criterion JSON did not give, the last `criterion: VALUE` in the text;
    returns the criteria still missing."""
    for c in rubric.criteria:
        if c.name not in found:
            matches = re.findall(rf"{re.escape(c.name)}\W{{0,3}}\s*{value}", text, re.I)
            if matches:
                found[c.name] = convert(matches[-1])
    return [c.name for c in rubric.criteria if c.name not in found]


def _verdict(value) -> float | None:
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
    missing = _fill_from_text(rubric, text, found, r"[:=]\s*\**\s*\"?(A|B|tie)\b", _verdict)
    if missing:
        return {c.name: None for c in rubric.criteria}, f"unparsable reply: no verdict (A, B or tie) for " \
            f"{', '.join(missing)}"
    return {c.name: found[c.name] for c in rubric.criteria}, None


def _json_objects(text: str):
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
