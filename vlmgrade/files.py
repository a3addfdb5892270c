"""Reading the JSON and YAML files users hand us: every failure is one UserError naming the file."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vlmgrade.errors import UserError


def _read(path: Path, what: str, parse: Callable[[str], Any], syntax_error: type[Exception], language: str) -> Any:
    try:
        return parse(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {what} {path}: {e}") from None
    except syntax_error as e:
        raise UserError(f"{what} {path} is not valid {language}: {' '.join(str(e).split())}") from None


def read_json(path: Path, what: str) -> Any:
    """`what` names the file in messages ("run scores", "model config")."""
    return _read(path, what, json.loads, json.JSONDecodeError, "JSON")


def read_yaml(path: Path, what: str) -> Any:
    import yaml

    return _read(path, what, yaml.safe_load, yaml.YAMLError, "YAML")


def jsonl_objects(path: Path, what: str) -> Iterator[tuple[str, dict]]:
    """(where, object) for each non-blank line of a JSONL file; `where` is "path:line" for messages."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read {what} {path}: {e}") from None
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{where}: not valid JSON ({e.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{where}: each line must be a JSON object")
        yield where, row
