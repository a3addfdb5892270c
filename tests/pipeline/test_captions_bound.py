"""Issue 24 (captions files): `run --captions FILE` reads the file a line at a time and at most
MAX_CAPTION_ROWS (200,000) rows of it; a larger file is refused in one line, in bounded memory, before
anything is judged. A dry run prices the plan without scoring the offline rubrics.

Before: a million-row captions file with `run --captions FILE --dry-run` held the whole file, every row as a
dict and every caption scored by the grounded judge: 4.8 GB and over three minutes for a dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tests.helpers import child_env
from vlmgrade.cli import main
from vlmgrade.pipeline import captioning


def _write(path, models: int, samples: int = 1000) -> None:
    with path.open("w") as f:
        for m in range(models):
            f.writelines(json.dumps({"id": f"test-{i:06d}", "model": f"m{m}", "text": "a big red ball"}) + "\n"
                         for i in range(samples))


def test_a_captions_file_over_the_cap_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(captioning, "MAX_CAPTION_ROWS", 100)
    _write(tmp_path / "caps.jsonl", 2, 60)
    assert main(["run", "--captions", str(tmp_path / "caps.jsonl"), "--data", "scenes-short:test", "--limit", "60",
                 "--judge", "grounded", "--quiet", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "caps.jsonl:101: more than 100 captions; a run judges at most 100" in err[0], err
    assert not (tmp_path / "r").exists()


def test_a_quarter_million_rows_are_refused_fast_and_small(tmp_path):
    _write(tmp_path / "caps.jsonl", 250)  # 250,000 rows, 21 MB
    code = ("import json, re, sys\nfrom vlmgrade.cli import main\ncode = main(sys.argv[1:])\n"  # VmHWM: this
            "peak = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]) / 1024\n"  # process's
            "print(json.dumps({'code': code, 'peak_mb': peak}))")  # own peak (ru_maxrss keeps the parent's across exec)
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code, "run", "--captions", str(tmp_path / "caps.jsonl"), "--data",
                           "scenes-short:test", "--judge", "grounded", "--dry-run", "--quiet"], capture_output=True,
                          text=True, env=child_env(OMP_NUM_THREADS="1"), timeout=600)
    seconds = time.monotonic() - started
    result = json.loads(done.stdout.strip().splitlines()[-1])
    lines = [x for x in done.stderr.strip().splitlines() if not x.startswith("vlmgrade: no OPENAI")]
    assert result["code"] == 2 and len(lines) == 1, (result, done.stderr)
    assert "caps.jsonl:200001: more than 200,000 captions" in lines[0]
    assert result["peak_mb"] < 800, result  # 1000 pictures drawn, 200,000 captions held (about 200 MB)
    assert seconds < 120, seconds


def test_a_dry_run_scores_nothing_offline(tmp_path, monkeypatch, capsys):
    from vlmgrade.pipeline import plan

    def refuse(*args, **kwargs):
        raise AssertionError("a dry run scored an offline rubric")

    monkeypatch.setattr(plan, "offline_judgments", refuse)
    _write(tmp_path / "caps.jsonl", 2, 5)
    assert main(["run", "--captions", str(tmp_path / "caps.jsonl"), "--data", "scenes-short:test", "--limit", "5",
                 "--judge", "grounded", "--dry-run", "--quiet"]) == 0
    assert "dry run, nothing sent: 0 judge requests" in capsys.readouterr().out
    assert os.environ.get("VLMGRADE_CACHE")  # the autouse fixture's own cache: nothing of the user's was read
