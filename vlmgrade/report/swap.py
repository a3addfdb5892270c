"""Replacing a run folder whole: the new files are written into a hidden sibling, which then takes the
folder's place by rename. Every step leaves something a later call can finish:

1. `.NAME.writing-PID`: being written (a kill here: removed later; the old folder is untouched);
2. `.NAME.ready-PID`: whole (a kill from here on: `recover` puts it in place);
3. the old folder becomes `.NAME.replaced-PID`, the ready one becomes NAME, the replaced one is removed.

`recover` runs before every write of a folder and in `vlmgrade runs`, on leftovers whose process is gone
(one still running may be mid-write)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

_T = TypeVar("_T")
STATES = ("writing", "ready", "replaced")
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<state>writing|ready|replaced)-(?P<pid>\d+)$")


def swap_in(out: Path, fill: Callable[[Path], _T]) -> _T:
    """`fill` writes the new folder's files into the folder it is given; that folder then replaces `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    recover(out)
    staging, ready, old = (out.parent / f".{out.name}.{state}-{os.getpid()}" for state in STATES)
    for leftover in (staging, ready, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    staging.mkdir()
    try:
        result = fill(staging)
        os.rename(staging, ready)  # whole: from here on a kill leaves a folder recover() puts in place
        if out.exists():
            os.rename(out, old)
        os.rename(ready, out)
    except BaseException:
        if ready.exists() and old.exists() and not out.exists():  # failed between the renames: the old one back
            os.rename(old, out)
        raise
    finally:
        for leftover in (staging, ready):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    return result


def _alive(pid: int) -> bool:
    """Whether the process that staged a folder still runs (it may be writing it now)."""
    if pid == os.getpid():
        return False  # one write of a folder at a time here: a leftover of ours is from an earlier failure
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # there, but another user's
        return True
    return True


def leftovers(parent: Path) -> dict[str, list[tuple[str, Path]]]:
    """{folder name: [(state, path), ...]}: the staging folders under `parent` whose process is gone."""
    found: dict[str, list[tuple[str, Path]]] = {}
    try:
        entries = list(parent.iterdir())
    except OSError:
        return found
    for entry in entries:
        m = _LEFTOVER.match(entry.name)
        if m and entry.is_dir() and not entry.is_symlink() and not _alive(int(m["pid"])):
            found.setdefault(m["name"], []).append((m["state"], entry))
    return found


def recover(out: Path, found: list[tuple[str, Path]] | None = None) -> str | None:
    """Finish or undo a rewrite of `out` that a kill interrupted; what was done, or None. A ready folder (whole)
    takes `out`'s place when `out` is missing or older; else a replaced one comes back when `out` is missing;
    the rest (half-written folders, a replaced one whose successor is in place) is removed."""
    mine = leftovers(out.parent).get(out.name, []) if found is None else found
    mine = sorted(mine, key=lambda sp: _written(sp[1]), reverse=True)
    ready = next((p for state, p in mine if state == "ready"), None)
    replaced = next((p for state, p in mine if state == "replaced"), None)
    keep = None
    if ready is not None and (not out.exists() or _written(ready) >= _written(out)):
        keep = ready
    elif replaced is not None and not out.exists():
        keep = replaced
    if keep is not None:
        if out.exists():  # older than the ready one: set aside, then removed with the rest
            aside = out.parent / f".{out.name}.replaced-{os.getpid()}"
            os.rename(out, aside)
            mine.append(("replaced", aside))
        os.rename(keep, out)
    for _, path in mine:
        if path != keep and path.exists():
            shutil.rmtree(path, ignore_errors=True)
    return f"restored {out} from {keep.name}" if keep is not None else None


def recover_all(parent: Path) -> list[str]:
    """`recover` for every folder under `parent` that a killed write left staging folders of."""
    done = [recover(parent / name, found) for name, found in leftovers(parent).items()]
    return [d for d in done if d]


def _written(folder: Path) -> float:
    """When a run folder's scores were written (0 when it has none)."""
    try:
        return (folder / "scores.json").stat().st_mtime
    except OSError:
        return 0.0
