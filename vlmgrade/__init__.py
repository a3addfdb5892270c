"""vlmgrade: evaluate tiny vision-language models (caption, judge on rubrics, scores with intervals).

The Python API (see vlmgrade/api.py and the README): `evaluate`, `load_run`, `leaderboard`, `compare`,
`Run`, and the errors `UserError` and `MostlyUnscored`. They are imported on first use, so `import
vlmgrade` and the CLI stay light.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

try:
    __version__ = metadata.version("vlmgrade")
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

__all__ = ["evaluate", "load_run", "leaderboard", "compare", "Run", "UserError", "MostlyUnscored", "__version__"]


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        from vlmgrade import api

        return getattr(api, name)
    raise AttributeError(f"module 'vlmgrade' has no attribute {name!r}")
