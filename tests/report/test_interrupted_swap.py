"""Issue 24 (run folders): a process killed while it swaps a rewritten run folder into place leaves something
the next write or `vlmgrade runs` puts back; `runs` never lists a staging folder.

Before: a kill between the two renames (old folder aside, new one in) left no run folder at all, only the
hidden `.NAME.replaced-PID` and `.NAME.writing-PID`; `runs` listed nothing for it and the next write left both
behind for good."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.helpers import child_env
from vlmgrade.cli import main
from vlmgrade.data.datasets import load_samples

N = 4
KILLED = """
import os, sys
from pathlib import Path
out, when = Path(sys.argv[1]).absolute(), sys.argv[2]
real = os.rename
def rename(src, dst):
    last = Path(dst).absolute() == out and not out.exists()  # the new folder going in, the old one gone
    ready = ".ready-" in Path(dst).name  # the staging folder whole
    if (when == "between" and last) or (when == "ready" and ready):
        os._exit(9)
    real(src, dst)
os.rename = rename
from vlmgrade.cli import main
sys.exit(main(sys.argv[3:]))
"""


def _args(tmp_path, text: str) -> list[str]:
    caps = tmp_path / f"caps-{len(text)}.jsonl"
    caps.write_text("".join(json.dumps({"id": s.id, "model": "m", "text": text}) + "\n"
                            for s in load_samples("scenes-short:test", N)))
    return ["run", "--captions", str(caps), "--data", "scenes-short:test", "--limit", str(N), "--judge", "grounded",
            "--quiet", "--overwrite", "--out", str(tmp_path / "runs" / "r")]


def _killed_rewrite(tmp_path, when: str) -> str:
    """Rewrite runs/r with other captions, killed at `when`; the text the rewrite would have written."""
    text = "a blue cup and a red ball"
    done = subprocess.run([sys.executable, "-c", KILLED, str(tmp_path / "runs" / "r"), when, *_args(tmp_path, text)],
                          capture_output=True, text=True, env=child_env(), timeout=300)
    assert done.returncode == 9, done.stderr
    return text


def _listing(tmp_path, capsys) -> list[dict]:
    capsys.readouterr()
    assert main(["runs", str(tmp_path / "runs"), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)["runs"]


def _caption_text(folder) -> str:
    return json.loads((folder / "captions.jsonl").read_text().splitlines()[0])["text"]


def test_a_kill_between_the_renames_is_recovered_by_runs(tmp_path, capsys):
    assert main(_args(tmp_path, "a red ball")) == 0
    text = _killed_rewrite(tmp_path, "between")
    folder = tmp_path / "runs" / "r"
    assert not folder.exists()  # the state the kill left: the old folder aside, the new one whole but hidden
    listing = _listing(tmp_path, capsys)
    assert [(r["run"], r["status"]) for r in listing] == [("r", "complete")], listing
    assert _caption_text(folder) == text  # the rewrite was whole: it is the one put in place
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["r"]  # no leftovers


def test_the_next_write_recovers_too(tmp_path, capsys):
    assert main(_args(tmp_path, "a red ball")) == 0
    _killed_rewrite(tmp_path, "between")
    assert main(_args(tmp_path, "a green dog")) == 0
    assert _caption_text(tmp_path / "runs" / "r") == "a green dog"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["r"]


def test_a_kill_before_the_swap_keeps_the_old_folder(tmp_path, capsys):
    assert main(_args(tmp_path, "a red ball")) == 0
    _killed_rewrite(tmp_path, "ready")
    listing = _listing(tmp_path, capsys)
    assert [(r["run"], r["status"]) for r in listing] == [("r", "complete")], listing
    assert _caption_text(tmp_path / "runs" / "r") == "a red ball"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["r"]


def test_a_staging_folder_of_a_live_process_is_left_alone_and_never_listed(tmp_path, capsys):
    assert main(_args(tmp_path, "a red ball")) == 0
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.1)
        staging = tmp_path / "runs" / f".r.ready-{live.pid}"
        (tmp_path / "runs" / "r").rename(staging)
        listing = _listing(tmp_path, capsys)
        assert listing == [] and staging.exists()  # it may be mid-swap: not touched, not listed
    finally:
        live.kill()
        live.wait()
    assert [(r["run"], r["status"]) for r in _listing(tmp_path, capsys)] == [("r", "complete")]
