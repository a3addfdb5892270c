"""Where the built-in zoo cards and rubrics are: the repository's top-level folders in a checkout or an
editable install, the mapped packages `vlmgrade._zoo` / `vlmgrade._rubrics` in a normal install."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def _folder(repo_name: str, package: str) -> Path:
    local = _REPO / repo_name
    if local.is_dir() and (_REPO / "pyproject.toml").exists():
        return local
    return Path(str(resources.files(package)))


def zoo_dir() -> Path:
    return _folder("zoo", "vlmgrade._zoo")


def rubrics_dir() -> Path:
    return _folder("rubrics", "vlmgrade._rubrics")
