"""Rendering a rubric's prompt in a sandbox, and the structured-output schema sent with it.

A rubric never executes code: templates render in a bounded `SandboxedEnvironment` with `StrictUndefined`,
so a custom rubric can neither reach Python internals, nor silently drop a variable, nor build gigabytes.
"""

from __future__ import annotations

from typing import Any

from vlmgrade.core.errors import UserError
from vlmgrade.core.sandbox import MAX_RENDERED, counted_steps, sandbox_environment
from vlmgrade.core.types import Caption, Sample
from vlmgrade.rubrics.model import VERDICTS, Rubric

_COMPILED: dict[tuple[str, str | None], tuple] = {}  # templates compile once per text, not per request
_FIXED_SYSTEM: dict[tuple[str, str], str] = {}  # (rubric hash, system text) -> the system prompt, rendered once


def compile_templates(rubric: Rubric) -> tuple[Any, Any, bool]:
    """The prompt and system templates, compiled once per text, and whether the system prompt is fixed."""
    from jinja2 import TemplateSyntaxError

    key = (rubric.prompt, rubric.system)
    if key in _COMPILED:
        return _COMPILED[key]
    from jinja2 import meta

    env = sandbox_environment()
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

    prompt, system, fixed = compile_templates(rubric)
    context = template_context(rubric, sample, caption, second)
    fixed_key = (rubric.hash, rubric.system) if fixed and rubric.hash else None
    try:
        with counted_steps():
            rendered = _system_text(system, context, fixed_key), prompt.render(context).strip()
    except RecursionError:
        raise UserError(f"rubric {rubric.name}: template recursion too deep") from None
    except UndefinedError as e:
        raise UserError(_undefined_line(rubric, e, context)) from None
    except SecurityError as e:
        raise UserError(f"rubric {rubric.name}: template refused by the sandbox: {e}") from None
    except TemplateError as e:
        raise UserError(f"rubric {rubric.name}: template error: {e}") from None
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as e:
        raise UserError(f"rubric {rubric.name}: template error: {type(e).__name__}: {e}") from None
    if sum(len(t or "") for t in rendered) > MAX_RENDERED:
        raise UserError(f"rubric {rubric.name}: the rendered prompt exceeds {MAX_RENDERED} characters")
    return rendered


def _undefined_line(rubric: Rubric, error: Exception, context: dict) -> str:
    """'template line 3, {{ caption.txt }}: 'dict object' has no attribute 'txt' (did you mean caption.text?);
    a template sees: ...': where, what, and what there is to use instead."""
    import difflib
    import re

    message = getattr(error, "message", None) or str(error)
    found = re.search(r"attribute '([^']+)'|'([^']+)' is undefined", message)
    wanted = next((g for g in found.groups() if g), "") if found else ""
    fields = [f"{k}.{sub}" if isinstance(v, dict) else k for k, v in context.items()
              for sub in (v if isinstance(v, dict) else [None])]
    line, tb = None, error.__traceback__
    while tb is not None:  # jinja maps a template's frames to the template's own line numbers
        if tb.tb_frame.f_code.co_filename == "<template>":
            line = tb.tb_lineno
        tb = tb.tb_next
    where = ""
    if line is not None:
        source = next((t for t in (rubric.prompt, rubric.system or "") if len(t.splitlines()) >= line), rubric.prompt)
        text = source.splitlines()[line - 1]
        expression = next((m for m in re.findall(r"{{.*?}}|{%.*?%}", text) if wanted and wanted in m), text.strip())
        where = f" line {line}, {expression[:120]}"
    close = difflib.get_close_matches(wanted, [f.split(".")[-1] for f in fields], n=1, cutoff=0.6) if wanted else []
    hint = f" (did you mean {next(f for f in fields if f.split('.')[-1] == close[0])}?)" if close else ""
    return (f"rubric {rubric.name}: template{where} uses an undefined variable: {message}{hint}; a template sees: "
            f"{', '.join(fields)}")


def _system_text(system: Any, context: dict, fixed_key: tuple[str, str] | None) -> str | None:
    """The system prompt; one that reads nothing but the criteria is rendered once per rubric."""
    text = _FIXED_SYSTEM.get(fixed_key) if fixed_key else None
    if text is None and system is not None:
        text = system.render(context).strip()
        if fixed_key:
            _FIXED_SYSTEM[fixed_key] = text
    return text


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


