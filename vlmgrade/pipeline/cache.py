"""One SQLite store (WAL mode) for captions and judgments, so a rerun pays for nothing twice.

Keys are SHA-256 hashes of canonical JSON describing everything that changes the answer; values are
JSON. Each result is committed as it arrives, so a run killed at any point keeps what it had. API keys
are never part of a key or a value.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from vlmgrade.core.errors import UserError

if TYPE_CHECKING:
    from PIL import Image

TABLES = ("captions", "judgments", "meta", "data_build", "leases")
SCHEMA = 1  # stored as SQLite's user_version: a cache written by another schema is refused, not misread
ROWS_PER_STATEMENT = 400  # rows per multi-row statement: 2 parameters each, within SQLite's oldest limit of 999
BUSY_TIMEOUT_S = 30.0  # how long SQLite itself waits for another process's lock before saying 'locked'
LOCK_WAIT_S = 600.0  # how long a judging run goes on retrying a write past that, the wait shown, before
#                     it gives the write up (the answer is still in the run folder)


def default_path() -> Path:
    if os.environ.get("VLMGRADE_CACHE"):
        return Path(os.environ["VLMGRADE_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vlmgrade" / "cache.sqlite"


def key_of(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Cache:
    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path else default_path()
        try:
            self._open()
        except sqlite3.DatabaseError as e:  # random bytes, a truncated file, another program's database
            raise UserError(f"the cache {self.path} is unreadable ({e}); move it aside or delete it to start "
                            "afresh (set VLMGRADE_CACHE for another)") from None

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
        # values come back as bytes, decoded by `decode`: a row of bytes that are not UTF-8 would otherwise fail
        # the whole SELECT it is in, inside sqlite3
        self._db.text_factory = bytes
        # The busy timeout must be in force before the first statement: switching a new file to WAL takes
        # an exclusive lock, and without it a second process opening the same new cache fails at once.
        self._db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        self._set_wal()
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process kills
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0].decode(errors="replace") if isinstance(r[0], bytes) else r[0]
                  for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version not in (0, SCHEMA) or (version == 0 and tables - set(TABLES)):
            raise sqlite3.DatabaseError(f"schema {version} with tables {', '.join(sorted(tables)) or 'none'}, "
                                        f"not vlmgrade's schema {SCHEMA}")
        if version == SCHEMA and tables >= set(TABLES):
            return  # nothing to write: opening waits for no lock another process holds
        for table in TABLES:
            self._db.execute(f"CREATE TABLE IF NOT EXISTS {table} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.execute(f"PRAGMA user_version={SCHEMA}")
        self._db.commit()

    def _set_wal(self, attempts: int = 50) -> None:
        """The WAL switch can still report 'locked' without waiting on the busy handler (SQLite gives up
        at once when waiting could deadlock); it succeeds as soon as the other opener is done, so retry."""
        for attempt in range(attempts):
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or attempt == attempts - 1:
                    raise
                time.sleep(0.05 * (1 + attempt % 5))

    def get(self, table: str, key: str) -> dict | None:
        with self._lock:
            row = self._db.execute(f"SELECT value FROM {table} WHERE key = ?", (key,)).fetchone()
        return decode(table, row[0]) if row else None

    def get_many(self, table: str, keys: list[str]) -> dict[str, dict]:
        with self._lock:
            return self._select(table, keys)

    def put(self, table: str, key: str, value: dict) -> None:
        self.put_many(table, [(key, value)])

    def put_many(self, table: str, items: list[tuple[str, dict]]) -> None:
        """Store values in one commit. A lock another process holds is waited out (up to LOCK_WAIT_S, as the
        judging stage's writer does): what is stored here was paid for (Batch API answers, the data builder's)."""
        rows = [(k, json.dumps(v)) for k, v in items]
        started = time.monotonic()
        while True:
            try:
                with self._lock:
                    try:
                        self._insert(table, rows)
                        self._db.commit()
                        return
                    except BaseException:
                        self._db.rollback()
                        raise
            except sqlite3.Error as e:
                if not is_locked(e) or time.monotonic() - started >= LOCK_WAIT_S:
                    raise
            time.sleep(0.2)

    def exchange(self, table: str, owner: str, seconds: float, answers: list[tuple[str, dict]] = (),
                 releases: list[str] = (), claims: list[str] = ()) -> dict[str, tuple[bool, dict | None]]:
        """One transaction of a judging run's cache traffic: store `answers` (dropping `owner`'s leases on
        them: an answer and the end of its lease are never seen apart), drop `owner`'s leases on `releases`,
        and claim `claims`. Per claimed key: (False, answer) when `table` has one; else (True, None) with a
        lease for `seconds`, unless another owner holds a live one (False, None). Runs sharing a cache so
        send a request once and the others wait for its answer; an expired lease (its owner died or hung)
        is taken over. BEGIN IMMEDIATE: checking and claiming cannot interleave with another process."""
        now = time.time()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._insert(table, [(k, json.dumps(v)) for k, v in answers])
                self._release([k for k, _ in answers] + list(releases), owner)
                hits = self._select(table, claims)
                held = self._select("leases", [k for k in claims if k not in hits])
                out: dict[str, tuple[bool, dict | None]] = {}
                taken = []
                for k in claims:
                    lease = held.get(k)
                    if k in hits:
                        out[k] = (False, hits[k])
                    elif lease and lease["owner"] != owner and lease["expires"] > now:
                        out[k] = (False, None)
                    else:
                        out[k] = (True, None)
                        taken.append((k, json.dumps({"owner": owner, "expires": now + seconds})))
                self._insert("leases", taken)
                self._db.commit()
                return out
            except BaseException:
                self._db.rollback()
                raise

    # The helpers below (the caller holds the lock) send many rows per statement, not one statement per
    # row: the cache thread gives up the GIL at every statement, and while the event loop is busy each
    # hand-back can wait a whole switch interval (5 ms), so statements per transaction set its time.

    def _select(self, table: str, keys: list[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for start in range(0, len(keys), ROWS_PER_STATEMENT):
            chunk = keys[start:start + ROWS_PER_STATEMENT]
            marks = ",".join("?" * len(chunk))
            for k, v in self._db.execute(f"SELECT key, value FROM {table} WHERE key IN ({marks})", chunk).fetchall():
                value = decode(table, v)
                if value is not None:  # a damaged row is a miss: asked (and paid for) again, not a failure
                    out[k.decode() if isinstance(k, bytes) else k] = value
        return out

    def _insert(self, table: str, rows: list[tuple[str, str]]) -> None:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start:start + ROWS_PER_STATEMENT]
            marks = ",".join(["(?, ?)"] * len(chunk))
            self._db.execute(f"INSERT OR REPLACE INTO {table} (key, value) VALUES {marks}",
                             [field for row in chunk for field in row])

    def _release(self, keys: list[str], owner: str) -> None:
        """Drop `owner`'s leases on `keys` (another owner's lease on one of them stays)."""
        for start in range(0, len(keys), ROWS_PER_STATEMENT):
            chunk = keys[start:start + ROWS_PER_STATEMENT]
            marks = ",".join("?" * len(chunk))
            # CASE: a damaged lease (not JSON) is skipped, where json_extract alone would fail the statement
            self._db.execute("DELETE FROM leases WHERE CASE WHEN typeof(value) = 'text' AND json_valid(value) THEN "
                             f"json_extract(value, '$.owner') END = ? AND key IN ({marks})", [owner, *chunk])

    def count(self, table: str) -> int:
        with self._lock:
            return self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _text(value: object) -> bool:
    return isinstance(value, str)


def _optional(kind: type) -> Callable[[object], bool]:
    return lambda value: value is None or isinstance(value, kind)


# What each table's values hold at least (the fields their readers take without checking); a row without them
# was damaged or written by something else, and is treated as absent.
SHAPES: dict[str, dict[str, Callable[[object], bool]]] = {
    "captions": {"text": _text},
    "judgments": {"raw": _text, "usage": _optional(dict), "logprobs": _optional(list), "batch": _optional(str)},
    "data_build": {"raw": _text, "usage": _optional(dict), "logprobs": _optional(list), "batch": _optional(str)},
    "meta": {"batches": _optional(list)},
    "leases": {"owner": _text, "expires": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)},
}


def decode(table: str, value: object) -> dict | None:
    """A stored value as the dict it was, or None when it is damaged (bytes that are not UTF-8, text that is not
    JSON, JSON that is not an object of the table's shape): the caller then treats it as a miss."""
    try:
        text = value.decode() if isinstance(value, bytes) else value
        row = json.loads(text) if isinstance(text, str) else None
    except ValueError:  # not UTF-8 (UnicodeDecodeError), not JSON, or an integer of over 4,300 digits
        return None
    if not isinstance(row, dict):
        return None
    checks = SHAPES.get(table, {})
    return row if all(check(row.get(field)) for field, check in checks.items()) else None


def is_locked(e: sqlite3.Error) -> bool:
    """Another process holds the cache's lock (worth waiting out), as opposed to a broken or full disk."""
    return "locked" in str(e) or "busy" in str(e)


def file_digest(path: Path, what: str = "model weights", chunk: int = 1 << 20) -> str:
    """Through the checked opener: a weights file that is a FIFO or /dev/zero would hang or never end."""
    from vlmgrade.core.files import open_regular

    h = hashlib.sha256()
    with open_regular(path, what, max_bytes=1 << 40) as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def image_digest(image: Image.Image) -> str:
    """Hash of the decoded pixels (not the file), so the same picture hits the cache from any source."""
    import numpy as np

    arr = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return hashlib.sha256(str(arr.shape).encode() + arr.tobytes()).hexdigest()


class CacheWriter:
    """The judging stage's cache traffic on a thread of its own, so that another process holding the
    cache's lock stalls the cache and never the event loop: requests in flight, timeouts and the progress
    bar go on. Claims (`await claim(key)`), lease releases and answers (`release`, `store`: they return at
    once) queue up; the thread takes whatever has queued and does it all in one transaction
    (`Cache.exchange`), then hands the claims' outcomes back to the loop in one call: 10,000 requests at
    concurrency 256 took about 600 transactions instead of 20,000, and a kill loses at most the few
    milliseconds not yet committed. A locked cache is retried (`waited()` tells the stage how long
    to show); a batch still failing after LOCK_WAIT_S, or failing otherwise (a full disk), is given up:
    its answers are counted in `unsaved` with the reason (the run keeps them and writes them to the run
    folder) and its claims are granted, so the requests are sent without a lease."""

    def __init__(self, cache: Cache, owner: str, lease_s: float, table: str = "judgments") -> None:
        import queue

        self.cache, self.owner, self.lease_s, self.table = cache, owner, lease_s, table
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name="vlmgrade-cache", daemon=True)
        self._thread.start()
        self._busy_since: float | None = None
        self.unsaved = 0
        self.reason = ""

    async def claim(self, key: str) -> tuple[bool, dict | None]:
        """(claimed, answer), as `Cache.exchange` says for one key."""
        import asyncio

        loop = asyncio.get_running_loop()
        outcome = loop.create_future()
        self._queue.put(("claim", key, (loop, outcome)))
        return await outcome

    def release(self, key: str) -> None:
        self._queue.put(("release", key, None))

    def store(self, key: str, value: dict) -> None:
        self._queue.put(("store", key, value))

    def waited(self) -> float:
        """Seconds the transaction now under way has taken (0 when none is)."""
        since = self._busy_since
        return time.monotonic() - since if since is not None else 0.0

    def _serve(self) -> None:
        import queue

        done = False
        while not done:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            done = batch[-1] is None
            ops = [op for op in batch if op is not None]
            if ops:
                self._apply(ops)

    def _apply(self, ops: list[tuple]) -> None:
        answers = [(key, value) for kind, key, value in ops if kind == "store"]
        releases = [key for kind, key, _ in ops if kind == "release"]
        waiting = [(key, where) for kind, key, where in ops if kind == "claim"]
        outcomes = self._retrying(answers, releases, [key for key, _ in waiting])
        by_loop: dict = {}
        for key, (loop, future) in waiting:
            by_loop.setdefault(loop, []).append((future, key, outcomes.get(key, (True, None))))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(self._settle, settled)

    def _settle(self, settled: list) -> None:
        """On the loop: each claim's waiter gets its outcome; a lease won for a waiter cancelled meanwhile
        is given back (else it would bar other runs from the request until it expires)."""
        for future, key, outcome in settled:
            if not future.done():
                future.set_result(outcome)
            elif outcome[0]:
                self.release(key)

    def _retrying(self, answers: list, releases: list, claims: list) -> dict:
        started = self._busy_since = time.monotonic()
        try:
            while True:
                try:
                    return self.cache.exchange(self.table, self.owner, self.lease_s, answers, releases, claims)
                except sqlite3.Error as e:
                    if is_locked(e) and time.monotonic() - started < LOCK_WAIT_S:
                        time.sleep(0.2)
                        continue
                    self.unsaved += len(answers)
                    self.reason = str(e)
                    return {}
        finally:
            self._busy_since = None

    def close(self) -> None:
        """Wait for everything queued to be written (or given up)."""
        self._queue.put(None)
        self._thread.join()
