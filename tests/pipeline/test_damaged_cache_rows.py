"""Issue 24 (cache): a damaged row in the cache (bytes that are not UTF-8, text that is not JSON, JSON that is
not the value that table holds) is a miss: computed again and stored whole, never a traceback.

Before: each of these ended the run in JSONDecodeError, TypeError, KeyError or AttributeError (and a row of
bytes that are not UTF-8 failed the whole SELECT it was read by)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from vlmgrade.cli import main
from vlmgrade.pipeline.cache import Cache

DAMAGE = {
    "random bytes": sqlite3.Binary(b"\xff\xfe\x00\x9cgarbage"),
    "bytes stored as text": "CAST(x'fffe7b22' AS TEXT)",
    "not JSON": "{not json",
    "a list": "[1, 2]",
    "no text": '{"x": 1}',
    "text a number": '{"text": 5}',
    "an integer of 5000 digits": '{"text": ' + "9" * 5000 + "}",
}


def _damage(path, table: str, value: object) -> int:
    db = sqlite3.connect(path)
    if isinstance(value, str) and value.startswith("CAST("):
        changed = db.execute(f"UPDATE {table} SET value = {value}").rowcount
    else:
        changed = db.execute(f"UPDATE {table} SET value = ?", (value,)).rowcount
    db.commit()
    db.close()
    return changed


def _run(out) -> int:
    return main(["run", "--model", "nanovlm-tiny-scenes", "--data", "scenes-short:test", "--limit", "2", "--judge",
                 "grounded", "--quiet", "--out", str(out), "--overwrite"])


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_caption_row_is_generated_again(damage, tmp_path, monkeypatch, capsys):
    cache = tmp_path / "c.sqlite"
    monkeypatch.setenv("VLMGRADE_CACHE", str(cache))
    assert _run(tmp_path / "r1") == 0
    first = (tmp_path / "r1" / "captions.jsonl").read_text()
    assert _damage(cache, "captions", DAMAGE[damage]) == 2
    assert _run(tmp_path / "r2") == 0, capsys.readouterr().err
    assert (tmp_path / "r2" / "captions.jsonl").read_text() == first  # generated again, the same
    kept = Cache(cache)
    try:
        assert kept.count("captions") == 2 and len(kept.get_many("captions", _keys(cache, "captions"))) == 2
    finally:
        kept.close()


def _keys(path, table: str) -> list[str]:
    db = sqlite3.connect(path)
    try:
        return [k for (k,) in db.execute(f"SELECT key FROM {table}")]
    finally:
        db.close()


@pytest.mark.parametrize("value", ['{"usage": {}}', '{"raw": 5}', '{"raw": "x", "usage": "lots"}',
                                   '{"raw": "x", "logprobs": "abc"}', "null", "\"text\""])
def test_a_damaged_judgment_row_is_a_miss(value, tmp_path):
    cache = Cache(tmp_path / "c.sqlite")
    try:
        cache.put_many("judgments", [("good", {"raw": "{}", "usage": {}}), ("bad", {"raw": "{}"})])
        db = sqlite3.connect(tmp_path / "c.sqlite")
        db.execute("UPDATE judgments SET value = ? WHERE key = 'bad'", (value,))
        db.commit()
        db.close()
        assert set(cache.get_many("judgments", ["good", "bad"])) == {"good"}
        assert cache.get("judgments", "bad") is None
    finally:
        cache.close()


def test_a_damaged_lease_neither_blocks_nor_fails_a_claim(tmp_path):
    cache = Cache(tmp_path / "c.sqlite")
    try:
        db = sqlite3.connect(tmp_path / "c.sqlite")
        db.execute("INSERT INTO leases VALUES ('k', ?)", (sqlite3.Binary(b"\xff\x00"),))
        db.execute("INSERT INTO leases VALUES ('j', '{not json')")
        db.commit()
        db.close()
        assert cache.exchange("judgments", "me", 60.0, claims=["k", "j"]) == {"k": (True, None), "j": (True, None)}
        cache.exchange("judgments", "me", 60.0, answers=[("k", {"raw": "ok", "usage": {}})], releases=["j"])
        assert cache.get("judgments", "k") == {"raw": "ok", "usage": {}}
    finally:
        cache.close()


def test_the_run_that_reads_a_damaged_row_says_nothing_and_pays_again_once(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "c.sqlite"
    monkeypatch.setenv("VLMGRADE_CACHE", str(cache))
    assert _run(tmp_path / "r1") == 0
    _damage(cache, "captions", "{not json")
    capsys.readouterr()
    assert _run(tmp_path / "r2") == 0
    assert "Traceback" not in capsys.readouterr().err
    assert all(json.loads(v) for (v,) in sqlite3.connect(cache).execute("SELECT value FROM captions"))
