"""Lines and tables at any width: with stderr a pipe and COLUMNS=40, a line naming a long path stays one
line (rich hard-wrapped every line at the console width: 80 when not a terminal, COLUMNS when set), and the
score table keeps every model and criterion name whole (no '…')."""

from __future__ import annotations

import json

from tests.helpers import cache_locking_judge, run_cli, write_captions

LABEL = "a-very-long-model-label-that-must-stay-whole"


def _long_folder(root):
    """A folder three 120-character names deep: its path is far longer than any terminal line."""
    folder = root
    for c in "abc":
        folder = folder / (c * 120)
    folder.mkdir(parents=True)
    return folder


def test_lines_and_tables_stay_whole_when_stderr_is_a_pipe_and_columns_is_small(tiny_model, env, monkeypatch,
                                                                                 judge_server):
    deep = _long_folder(env)
    monkeypatch.setenv("COLUMNS", "40")

    # (1) a line naming the long cache path: another process (this one) holds the cache's write lock
    # for a few seconds, so the run says it waits for the cache, naming it
    cache_path = deep / "cache.sqlite"
    monkeypatch.setenv("VLMGRADE_CACHE", str(cache_path))
    caps = write_captions(deep / "caps.jsonl", 2)
    judge = cache_locking_judge(cache_path, 4.0)
    server = judge_server(judge)
    p = run_cli("run", "--captions", str(caps), "--data", "scenes-short:test", "--limit", "2", "--rubric",
                "nanovlm-paper", "--judge", "openai:gpt-4o", "--judge-base-url", server.base_url,
                "--concurrency", "1", "--out", str(deep / "r1"), "--quiet")
    assert p.returncode == 0, p.stderr
    waits = [line for line in p.stderr.splitlines() if "for the cache" in line]
    assert waits, p.stderr
    assert all(str(cache_path) in line and "holds its lock" in line for line in waits), p.stderr

    # (2) the score table of a grounded run names the long-labelled model whole, and every criterion
    p = run_cli("run", "--model", f"{LABEL}={tiny_model}", "--model", f"second-{LABEL}={tiny_model}",
                "--data", "scenes-short:test", "--limit", "2", "--judge", "grounded", "--max-new-tokens", "4",
                "--out", str(deep / "r2"), "--quiet")
    assert p.returncode == 0, p.stderr
    assert LABEL in p.stdout and f"second-{LABEL}" in p.stdout, p.stdout
    assert "…" not in p.stdout, p.stdout
    scores = json.loads((deep / "r2" / "scores.json").read_text())
    for criterion in {r["criterion"] for r in scores["rows"] if not r.get("control")}:
        assert criterion in p.stdout, (criterion, p.stdout)
