"""Where the built-in zoo cards and rubrics are: the repository's top-level folders in a checkout or an
editable install; the folders `_zoo` and `_rubrics` inside the installed package in a normal (wheel)
install, where setup.py maps them."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parents[1]  # vlmgrade/
_REPO = _PACKAGE.parent


def _folder(repo_name: str, packaged: str) -> Path:
    local = _REPO / repo_name
    if local.is_dir() and (_REPO / "pyproject.toml").exists():
        return local
    # a plain path, not importlib.resources: the data folders have no __init__.py, and files() of such a
    # namespace package is a MultiplexedPath whose str() is no path at all
    return _PACKAGE / packaged


def zoo_dir() -> Path:
    return _folder("zoo", "_zoo")


def rubrics_dir() -> Path:
    return _folder("rubrics", "_rubrics")
