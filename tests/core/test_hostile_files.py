"""Hostile files where a user names a file: a FIFO (a read waits for a writer forever), a symlink to /dev/zero
(a read never ends and fills memory) and a sparse file over the size cap, at every command that reads one.
Each ends in one line and exit 2 within seconds. Every command runs in a child process with a time limit,
an address-space limit and a file-size limit, so that code without the checks fails the test instead of
hanging it, filling memory or filling the disk."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import child_env
from vlmgrade.core.files import MAX_BYTES

LIMIT_S = 30  # the child is killed past this; a refusal takes well under FAST_S
FAST_S = 10
KINDS = ("fifo", "devzero", "oversized")


def _limits() -> None:  # in the child, before it starts: 6 GiB of address space, 512 MiB per written file
    resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))
    resource.setrlimit(resource.RLIMIT_FSIZE, (512 << 20, 512 << 20))


def run_child(args: list[str], code: str | None = None, cwd: Path | None = None) -> tuple[int, str, float]:
    """(exit code, stderr, seconds) of `vlmgrade ARGS` (or of `python -c CODE ARGS`) in a limited child."""
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "vlmgrade", *args]
    started = time.monotonic()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=child_env(OPENAI_API_KEY="sk-hostile-1"),
                              timeout=LIMIT_S, preexec_fn=_limits, cwd=cwd)
    except subprocess.TimeoutExpired:
        pytest.fail(f"vlmgrade {' '.join(args)} still running after {LIMIT_S} s")
    return done.returncode, done.stderr, time.monotonic() - started


def refused(args: list[str], needle: str, code: str | None = None) -> None:
    status, err, seconds = run_child(args, code)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, (status, err[-2000:])
    assert needle in lines[0] and lines[0].startswith("vlmgrade: error: "), lines[0]
    assert seconds < FAST_S, f"{seconds:.1f} s"


def hostile(path: Path, kind: str, size: int = MAX_BYTES) -> Path:
    """A FIFO, a symlink to /dev/zero, or a sparse file one past `size` bytes, at `path`."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "devzero":
        os.symlink("/dev/zero", path)
    else:
        with open(path, "wb") as f:
            f.truncate(size + 1)  # sparse: no disk used
    return path


def expected(kind: str) -> str:
    return "is not a regular file" if kind != "oversized" else "are read"


def run_folder(folder: Path, judgments: str | None = None) -> Path:
    """A small run folder as `vlmgrade agree` reads it (judgments.jsonl left out when None)."""
    folder.mkdir()
    row = {"model": "m", "rubric": "r", "criterion": "c", "mean": 1.0, "ci_low": None, "ci_high": None, "n": 1}
    (folder / "scores.json").write_text(json.dumps({"run": folder.name, "judge": "grounded", "rows": [row]}))
    if judgments is not None:
        (folder / "judgments.jsonl").write_text(judgments)
    return folder


JUDGMENT = json.dumps({"sample_id": "a", "model": "m", "rubric": "r", "repeat": 0, "scores": {"c": 1}}) + "\n"


def build_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["data", "build", *extra[:1], "--llm", "openai:gpt-4o", "--base-url", "http://127.0.0.1:9", "--out",
            str(tmp_path / "built"), "--quiet", *extra[1:]]


def captions_manifest(tmp_path: Path, image: str = "img.png") -> Path:
    from PIL import Image

    Image.new("RGB", (8, 8)).save(tmp_path / "img.png")
    path = tmp_path / "caps.jsonl"
    path.write_text(json.dumps({"id": "a", "image": image, "references": ["a red ball"]}) + "\n")
    return path


def model_dir(folder: Path, model_type: str) -> Path:
    """A model folder as transformers reads it, but for the one hostile file the test puts beside config.json."""
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    return folder


# Each entry: (what it reads, a function of (tmp_path, the hostile path) giving the arguments, the cap in bytes).
ENTRIES = {
    "data build --prompt": (lambda t, p: build_args(t, str(captions_manifest(t)), "--prompt", str(p)), 1 << 20),
    "data build CAPTIONS (COCO JSON)": (lambda t, p: build_args(t, str(p), "--images", str(t)), MAX_BYTES),
    "data build CAPTIONS (manifest)": (lambda t, p: build_args(t, str(p)), MAX_BYTES),
    "data build: a manifest's image": (lambda t, p: build_args(t, str(captions_manifest(t, p.name))), 256 << 20),
    "agree: judgments.jsonl": (lambda t, p: ["agree", str(run_folder(t / "a", JUDGMENT)), str(p.parent)],
                               MAX_BYTES),
    "run --captions": (lambda t, p: ["run", "--data", "scenes-short:test", "--limit", "2", "--judge", "grounded",
                                     "--captions", str(p), "--quiet", "--out", str(t / "o")], MAX_BYTES),
    "run --rubric": (lambda t, p: ["run", "--data", "scenes-short:test", "--limit", "2", "--judge", "grounded",
                                   "--rubric", str(p), "--captions", "x.jsonl", "--quiet", "--out", str(t / "o")],
                     MAX_BYTES),
    "rubric check": (lambda t, p: ["rubric", "check", str(p)], MAX_BYTES),
    "caption --data (manifest)": (lambda t, p: ["caption", "--model", "nanovlm-tiny-scenes", "--data", str(p),
                                                "--out", str(t / "c.jsonl")], MAX_BYTES),
    "leaderboard: scores.json": (lambda t, p: ["leaderboard", str(p)], MAX_BYTES),
    "train CONFIG": (lambda t, p: ["train", str(p)], MAX_BYTES),
    "data build --price-table": (lambda t, p: build_args(t, str(captions_manifest(t)), "--price-table", str(p),
                                                         "--dry-run"), 1 << 20),
    "run --judge hf:FOLDER": (lambda t, p: ["run", "--data", "scenes-short:test", "--limit", "2", "--captions",
                                            "x.jsonl", "--rubric", "nanovlm-paper", "--judge",
                                            f"hf:{model_dir(p.parent, 'gpt2')}", "--quiet", "--out", str(t / "o")],
                              MAX_BYTES),
    "caption --model FOLDER (transformers)": (lambda t, p: ["caption", "--model", str(model_dir(p.parent, "git")),
                                                            "--data", "scenes-short:test", "--limit", "1", "--out",
                                                            str(t / "c.jsonl")], MAX_BYTES),
}
NAMES = {"data build CAPTIONS (COCO JSON)": "captions.json", "data build CAPTIONS (manifest)": "m.jsonl",
         "data build: a manifest's image": "pic.png", "agree: judgments.jsonl": "b/judgments.jsonl",
         "run --captions": "caps.jsonl", "run --rubric": "r.yaml", "rubric check": "r.yaml",
         "caption --data (manifest)": "m.jsonl", "leaderboard: scores.json": "scores.json", "train CONFIG": "t.yaml",
         "data build --prompt": "p.jinja", "data build --price-table": "prices.yaml",
         "run --judge hf:FOLDER": "judge/tokenizer_config.json",
         "caption --model FOLDER (transformers)": "git/preprocessor_config.json"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("entry", list(ENTRIES))
def test_every_file_a_user_names_is_refused_in_one_line(entry, kind, tmp_path):
    arguments, cap = ENTRIES[entry]
    path = tmp_path / NAMES[entry]
    if entry.startswith("agree"):
        run_folder(path.parent)
    path.parent.mkdir(exist_ok=True)
    if entry in ("run --rubric", "run --judge hf:FOLDER"):  # captions to judge: the named file is what is refused
        from tests.helpers import write_captions

        write_captions(tmp_path / "x.jsonl", 2)
    hostile(path, kind, cap)
    args = arguments(tmp_path, path)
    status, err, seconds = run_child(args, cwd=tmp_path)
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "Traceback" not in err, (status, err[-2000:])
    assert expected(kind) in lines[0] and path.name in lines[0], lines[0]
    assert seconds < FAST_S, f"{seconds:.1f} s"


SWAP = """
import os, sys
from pathlib import Path
import vlmgrade.core.files as files
from vlmgrade.cli import main

checked, kind = files.regular_file, sys.argv[1]

def then_swapped(path, what, max_bytes=files.MAX_BYTES):
    # the file is regular when it is checked, and replaced right after: what is then opened must be checked too
    out = checked(path, what, max_bytes)
    if Path(path).name == "judgments.jsonl" and not os.path.islink(path) and Path(path).stat().st_size:
        os.unlink(path)
        os.mkfifo(path) if kind == "fifo" else os.symlink("/dev/zero", path)
    return out

files.regular_file = then_swapped
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("kind", ("fifo", "devzero"))
def test_a_file_swapped_after_its_check_is_still_refused(kind, tmp_path):
    """`agree` on a run whose judgments.jsonl is a regular file when checked and a FIFO or /dev/zero when read."""
    a, b = run_folder(tmp_path / "a", JUDGMENT), run_folder(tmp_path / "b", JUDGMENT)
    refused([kind, "agree", str(a), str(b)], "is not a regular file", code=SWAP)
