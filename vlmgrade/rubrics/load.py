"""Rubric YAML -> `Rubric`: every key checked, one line naming the file and the key for each mistake.
The rubric's content hash (of its whole YAML) goes into every judgment's cache key: an edited rubric
pays again."""

from __future__ import annotations

import hashlib
import math
import re
from pathlib import Path
from typing import Any

import yaml

from vlmgrade.core.assets import rubrics_dir
from vlmgrade.core.better import Better
from vlmgrade.core.errors import UserError
from vlmgrade.core.files import read_yaml
from vlmgrade.rubrics.model import CONTROL_NAMES, DEFAULT_CONTROLS, Criterion, JudgeDefaults, Rubric
from vlmgrade.rubrics.render import compile_templates

RESERVED = {"feedback"}  # keys of the judge's reply that are not criteria
TOP_KEYS = {"name", "version", "description", "kind", "criteria", "judge", "system", "prompt"}
JUDGE_KEYS = {"model": str, "temperature": (int, float), "image": bool, "logprobs": bool}
CRITERION_KEYS = {"description", "scale", "better", "controls"}


def _unknown_keys(where: str, given: Any, known: Any) -> None:
    """One line for misspelt keys at any level: the valid keys and, per key, the closest one."""
    import difflib

    unknown = sorted(str(k) for k in set(given) - set(known))
    if not unknown:
        return
    hints = []
    for key in unknown:
        close = difflib.get_close_matches(key, [str(k) for k in known], n=1, cutoff=0.6)
        hints.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    raise UserError(f"{where}: unknown key{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; valid keys: "
                    f"{', '.join(sorted(map(str, known)))}")


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
    rubric = _validate(read_yaml(path, "rubric"), path)
    compile_templates(rubric)  # template syntax errors surface at load, not mid-run
    return rubric


def _validate(raw: Any, path: Path) -> Rubric:
    where = f"rubric {path}"
    if not isinstance(raw, dict):
        raise UserError(f"{where} must be a YAML mapping")
    for key in ("name", "criteria", "prompt"):
        if key not in raw:
            raise UserError(f"{where}: missing required key '{key}'")
    _unknown_keys(where, raw, TOP_KEYS)
    kind = raw.get("kind", "absolute")
    if kind not in ("absolute", "pairwise"):
        raise UserError(f"{where}: kind must be 'absolute' or 'pairwise', not {kind!r}")
    if not isinstance(raw["criteria"], dict) or not raw["criteria"]:
        raise UserError(f"{where}: 'criteria' must map each criterion name to {{description, scale: [lo, hi]}}")
    criteria = tuple(_criterion(where, name, spec, kind == "pairwise") for name, spec in raw["criteria"].items())
    if not isinstance(raw["prompt"], str):
        raise UserError(f"{where}: 'prompt' must be a Jinja template string")
    if raw.get("system") is not None and not isinstance(raw["system"], str):
        raise UserError(f"{where}: 'system' must be a string (a Jinja template)")
    digest = hashlib.sha256(yaml.safe_dump(raw, sort_keys=True).encode()).hexdigest()[:16]
    return Rubric(name=str(raw["name"]), version=str(raw.get("version", "1")),
                  description=" ".join(str(raw.get("description", "")).split()), criteria=criteria,
                  prompt=raw["prompt"], system=raw.get("system"), judge=_judge(where, raw.get("judge")),
                  hash=digest, path=str(path), kind=kind)


def _judge(where: str, raw: Any) -> JudgeDefaults:
    """The `judge:` mapping; a misspelt key (`temprature`) is an error, not a silent default."""
    raw = raw or {}
    if not isinstance(raw, dict):
        raise UserError(f"{where}: 'judge' must be a mapping ({', '.join(JUDGE_KEYS)})")
    _unknown_keys(f"{where}: judge", raw, JUDGE_KEYS)
    for key, value in raw.items():
        wanted = JUDGE_KEYS[key]
        if not isinstance(value, wanted) or (wanted is not bool and isinstance(value, bool)):
            raise UserError(f"{where}: judge: {key} must be a {getattr(wanted, '__name__', 'number')}, "
                            f"not {value!r}")
    return JudgeDefaults(**raw)


def _criterion(where: str, name: Any, spec: Any, pairwise: bool) -> Criterion:
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]{0,63}", name):
        raise UserError(f"{where}: criterion name {name!r} must be a word of letters, digits, _ or - "
                        "(at most 64, starting with a letter)")
    if name in RESERVED:
        raise UserError(f"{where}: {name!r} is reserved (the judge's reply uses it); rename the criterion")
    if pairwise:  # a verdict, A (1), B (0) or tie (0.5): no scale to give
        if not isinstance(spec, dict) or "scale" in spec:
            raise UserError(f"{where}: pairwise criterion {name!r} takes a description and no scale")
        _unknown_keys(f"{where}: criterion {name!r}", spec, {"description"})
        return Criterion(name, str(spec.get("description", "")).strip(), 0.0, 1.0, Better.HIGHER, ())
    if not isinstance(spec, dict):
        raise UserError(f"{where}: criterion {name!r} must be a mapping ({', '.join(sorted(CRITERION_KEYS))})")
    _unknown_keys(f"{where}: criterion {name!r}", spec, CRITERION_KEYS)
    lo, hi = _scale(where, name, spec.get("scale"))
    try:
        better = Better.of(spec.get("better"))
    except ValueError:
        raise UserError(f"{where}: criterion {name!r}: better must be 'higher' or 'lower', not "
                        f"{spec.get('better')!r}") from None
    controls = spec.get("controls", list(DEFAULT_CONTROLS))
    if not isinstance(controls, list) or not set(controls) <= set(CONTROL_NAMES):
        raise UserError(f"{where}: criterion {name!r}: controls must be a list of {', '.join(CONTROL_NAMES)}")
    return Criterion(name, str(spec.get("description", "")).strip(), lo, hi, better, tuple(controls))


def _scale(where: str, name: str, scale: Any) -> tuple[float, float]:
    if (not isinstance(scale, list) or len(scale) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in scale)
            or scale[0] >= scale[1]):
        raise UserError(f"{where}: criterion {name!r} needs scale: [lo, hi], finite numbers with lo < hi")
    return scale[0], scale[1]
