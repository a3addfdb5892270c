"""Reading the JSON and YAML files users hand us: every failure is one UserError naming the file."""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from vlmgrade.core.errors import UserError

MAX_BYTES = 64 << 20  # a config, rubric, manifest or scores file larger than this is not one we wrote
MAX_YAML_NODES = 100_000  # a document that expands (through its aliases) to more nodes is a bomb, not a rubric


def regular_file(path: Path, what: str, max_bytes: int = MAX_BYTES) -> Path:
    """The path, if it is a regular file of a sane size: a FIFO would hang a read, /dev/zero never ends. For a
    path handed on to a library that opens it itself; what vlmgrade reads goes through `open_regular`."""
    _checked(_stat(path, what, os.stat), path, what, max_bytes)
    return path


def _stat(path: Path | int, what: str, stat_of: Callable[[Any], os.stat_result]) -> os.stat_result:
    try:
        return stat_of(path)
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except OSError as e:
        raise UserError(f"cannot read {what} {path}: {e.strerror}") from None


def _checked(info: os.stat_result, path: Path, what: str, max_bytes: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise UserError(f"{what} {path} is not a regular file")
    if info.st_size > max_bytes:
        raise UserError(f"{what} {path} is {info.st_size} bytes; at most {max_bytes} are read")


@contextmanager
def open_regular(path: Path, what: str, max_bytes: int = MAX_BYTES) -> Iterator[BinaryIO]:
    """The one way vlmgrade opens a file a user names, for reading in binary. Checked twice: the path first
    (a device or FIFO is never opened: opening one can block or act), then the opened descriptor itself, so
    a file swapped in between is still refused. O_NONBLOCK: should a FIFO slip in anyway, opening it does not
    wait for a writer. Every failure is one UserError naming the file."""
    regular_file(path, what, max_bytes)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UserError(f"{what} not found: {path}") from None
    except OSError as e:
        raise UserError(f"cannot read {what} {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        _checked(_stat(fd, what, os.fstat), path, what, max_bytes)
        yield f


def read_bytes(path: Path, what: str, max_bytes: int = MAX_BYTES) -> bytes:
    """The whole file, never more than `max_bytes` even when it grows while read or its size lies (/proc)."""
    with open_regular(path, what, max_bytes) as f:
        try:
            data = f.read(max_bytes + 1)
        except OSError as e:
            raise UserError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if len(data) > max_bytes:
        raise UserError(f"{what} {path} is over {max_bytes} bytes; at most {max_bytes} are read")
    return data


def read_text(path: Path, what: str, max_bytes: int = MAX_BYTES) -> str:
    try:
        return read_bytes(path, what, max_bytes).decode()
    except UnicodeDecodeError as e:
        raise UserError(f"cannot read {what} {path}: not UTF-8 text (byte {e.start})") from None


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".msgpack")
MAX_WEIGHT_BYTES = 1 << 40  # weights may be large; they only have to be files


def model_folder(folder: Path, what: str) -> Path:
    """A model folder whose files a library (transformers) opens by itself: every file at its top must be a
    regular file, and all but the weights of a sane size, or the load would hang on a FIFO or read /dev/zero
    before any of our time limits starts. Hidden entries (.git, .cache) and subfolders are left alone."""
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or (entry.is_dir() and not entry.is_symlink()):
            continue
        cap = MAX_WEIGHT_BYTES if entry.name.endswith(WEIGHT_SUFFIXES) else MAX_BYTES
        regular_file(entry, f"{what} file", cap)
    _refuse_own_code(folder, what)
    return folder


def _refuse_own_code(folder: Path, what: str) -> None:
    """A folder whose configs name their own classes (`auto_map`) wants its Python run: vlmgrade never does,
    and says so here, before transformers can ask on stdin (where a piped "y" would run it)."""
    for entry in sorted(folder.glob("*.json")):
        if entry.name.startswith(".") or entry.stat().st_size > MAX_BYTES:
            continue
        try:
            config = json.loads(read_text(entry, f"{what} file"))
        except (UserError, ValueError):
            continue  # not ours to judge here: the loader reports a broken config in its own words
        if isinstance(config, dict) and "auto_map" in config:
            raise UserError(f"{what} folder {folder} needs its own code ({entry.name} has auto_map); vlmgrade never "
                            "runs a model folder's code: use a model transformers supports without it")


def _read(path: Path, what: str, parse: Callable[[str], Any], syntax_error: type[Exception], language: str) -> Any:
    text = read_text(path, what)
    try:
        return parse(text)
    except syntax_error as e:
        raise UserError(f"{what} {path} is not valid {language}: {' '.join(str(e).split())}") from None


def _no_surrogates(value: Any) -> Any:
    """`value` with each lone surrogate (JSON may spell one, "\\ud800"; no file can hold one) as U+FFFD, at
    any depth: a text read in is always one that can be written out again."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_no_surrogates(k): _no_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_surrogates(v) for v in value]
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")  # how JSON text spells one (a pair is joined by json)


def _json_loads(text: str, where: str, finite: bool) -> Any:
    """json.loads, lone surrogates replaced; with `finite`, NaN, Infinity and numbers too large for a float
    (1e999) are refused: vlmgrade never writes them, so a file holding one was not written by it."""
    def refuse(token: str, why: str = "not a finite number (NaN and Infinity are not JSON)") -> NoReturn:
        raise UserError(f"{where}: holds {token}, {why}")

    def checked_float(token: str) -> float:
        value = float(token)
        return value if math.isfinite(value) else refuse(token)

    def checked_int(token: str) -> int:  # a count beyond 10**18 is no count vlmgrade wrote (nor one a float holds)
        return int(token) if len(token.lstrip("-")) <= 18 else refuse(token[:24] + "...", "out of range")

    value = (json.loads(text, parse_constant=refuse, parse_float=checked_float, parse_int=checked_int) if finite
             else json.loads(text))
    return _no_surrogates(value) if _SURROGATE_ESCAPE.search(text) else value


def read_json(path: Path, what: str, finite: bool = False) -> Any:
    """`what` names the file in messages ("run scores", "model config"); `finite`: NaN and Infinity refused."""
    # ValueError: besides syntax, an integer of over 4,300 digits (Python refuses to convert it)
    return _read(path, what, lambda text: _json_loads(text, f"{what} {path}", finite), ValueError, "JSON")


def read_yaml(path: Path, what: str) -> Any:
    import yaml

    def expanded(node: yaml.Node, sizes: dict[int, int]) -> int:
        """Nodes the document holds once every alias is copied out: shared nodes are counted per use."""
        if id(node) in sizes:
            return sizes[id(node)]
        sizes[id(node)] = 1  # a cycle counts once instead of forever
        children = node.value if isinstance(node, yaml.SequenceNode) else \
            [n for pair in node.value for n in pair] if isinstance(node, yaml.MappingNode) else []
        sizes[id(node)] = min(MAX_YAML_NODES + 1, 1 + sum(expanded(c, sizes) for c in children))
        return sizes[id(node)]

    def bounded(text: str) -> Any:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is not None and expanded(root, {}) > MAX_YAML_NODES:
            raise UserError(f"{what} {path} expands through its aliases to more than {MAX_YAML_NODES:,} nodes: refused")
        return yaml.safe_load(text)

    return _read(path, what, bounded, yaml.YAMLError, "YAML")


def jsonl_objects(path: Path, what: str, finite: bool = False,
                  max_bytes: int = MAX_BYTES) -> Iterator[tuple[str, dict]]:
    """(where, object) for each non-blank line of a JSONL file; `where` is "path:line" for messages. Read a
    line at a time (memory: one line, not the file); lone surrogates become U+FFFD; with `finite`, NaN and
    Infinity are refused."""
    with open_regular(path, what, max_bytes) as f:
        read = 0
        for lineno, raw in enumerate(f, 1):
            read += len(raw)
            if read > max_bytes:  # grown since it was checked
                raise UserError(f"{what} {path} is over {max_bytes} bytes; at most {max_bytes} are read")
            if not raw.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                line = raw.decode()
            except UnicodeDecodeError as e:
                raise UserError(f"{where}: not UTF-8 text (byte {e.start})") from None
            try:
                row = _json_loads(line, where, finite)
            except ValueError as e:  # a syntax error, or an integer of over 4,300 digits
                raise UserError(f"{where}: not valid JSON ({getattr(e, 'msg', None) or e})") from None
            if not isinstance(row, dict):
                raise UserError(f"{where}: each line must be a JSON object")
            yield where, row


def output_folder(path: Path, what: str) -> Path:
    """A folder results may be written into (it need not exist yet): a file there, a path through a file, or
    a place that cannot be written (a read-only or virtual file system) is one UserError naming it. Nothing
    is left behind by the check."""
    import tempfile

    if path.exists() and not path.is_dir():
        raise UserError(f"{what} {path} is a file; give a folder")
    existing = next((p for p in [path, *path.absolute().parents] if p.exists()), Path("/"))
    if not existing.is_dir():
        raise UserError(f"cannot write {what} {path}: {existing} is a file")
    try:
        Path(tempfile.mkdtemp(prefix=".vlmgrade-probe-", dir=existing)).rmdir()
    except OSError as e:
        raise UserError(f"cannot write {what} {path}: {e.strerror or e}") from None
    return path


def output_file(path: Path, what: str) -> Path:
    """A file results may be written to (its folder need not exist yet); not a folder."""
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder; give a file path")
    output_folder(path.parent, f"the folder of {what}")
    return path
