"""A cache another process holds locked while captions are being stored: the run waits the lock out (as
judging does) instead of ending in sqlite3.OperationalError, and every caption it made is cached."""

import os
import sqlite3
import threading
import time
from pathlib import Path

from vlmgrade.cli import main

HOLD_S = 4.0  # how long the other connection keeps the lock: past SQLite's own (shortened) busy wait


def run_args(model, out):
    return ["run", "--model", str(model), "--data", "scenes-short:test", "--limit", "4", "--judge", "grounded",
            "--max-new-tokens", "4", "--batch-size", "2", "--quiet", "--out", str(out)]


def test_captions_stored_while_the_cache_is_locked_are_kept(tiny_model, tmp_path, monkeypatch):
    from vlmgrade.pipeline import cache
    from vlmgrade.zoo.captioner import NanoVLMCaptioner

    # SQLite's busy handler gives up after 1 s instead of 30, so that a lock held 4 s outlasts it as a long one would
    monkeypatch.setattr(cache, "BUSY_TIMEOUT_S", 1.0)
    path = Path(os.environ["VLMGRADE_CACHE"])
    cache.Cache(path).close()  # the cache exists, as after any earlier run
    held: list[float] = []
    caption = NanoVLMCaptioner.caption

    def locked_meanwhile(self, *args, **kwargs):
        """Another connection takes the write lock as generation starts and lets it go HOLD_S later."""
        holder = sqlite3.connect(path, check_same_thread=False)
        holder.execute("BEGIN EXCLUSIVE")
        held.append(time.monotonic())
        threading.Timer(HOLD_S, holder.rollback).start()
        return caption(self, *args, **kwargs)

    monkeypatch.setattr(NanoVLMCaptioner, "caption", locked_meanwhile)
    started = time.monotonic()
    assert main(run_args(tiny_model, tmp_path / "a")) == 0
    assert held and time.monotonic() - held[0] >= HOLD_S  # the run went on past the lock's release
    assert time.monotonic() - started < 60
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM captions").fetchone()[0] == 4
    written = (tmp_path / "a" / "captions.jsonl").read_text().splitlines()
    assert len(written) == 4

    def must_not_generate(self, *args, **kwargs):
        raise AssertionError("a caption was generated again: it was not cached")

    monkeypatch.setattr(NanoVLMCaptioner, "caption", must_not_generate)
    assert main(run_args(tiny_model, tmp_path / "b")) == 0  # every caption from the cache
    assert (tmp_path / "b" / "captions.jsonl").read_text().splitlines() == written
