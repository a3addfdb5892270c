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
from pathlib import Path

from vlmgrade.errors import UserError

TABLES = ("captions", "judgments", "meta", "data_build", "leases")
SCHEMA = 1  # stored as SQLite's user_version: a cache written by another schema is refused, not misread
RELEASE = "DELETE FROM leases WHERE key = ? AND json_extract(value, '$.owner') = ?"  # one owner's lease
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
        # The busy timeout must be in force before the first statement: switching a new file to WAL takes
        # an exclusive lock, and without it a second process opening the same new cache fails at once.
        self._db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        self._set_wal()
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process kills
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version not in (0, SCHEMA) or (version == 0 and tables - set(TABLES)):
            raise sqlite3.DatabaseError(f"schema {version} with tables {', '.join(sorted(tables)) or 'none'}, "
                                        f"not vlmgrade's schema {SCHEMA}")
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
        return json.loads(row[0]) if row else None

    def get_many(self, table: str, keys: list[str]) -> dict[str, dict]:
        out: dict[str, dict] = {}
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                marks = ",".join("?" * len(chunk))
                for k, v in self._db.execute(f"SELECT key, value FROM {table} WHERE key IN ({marks})", chunk):
                    out[k] = json.loads(v)
        return out

    def put(self, table: str, key: str, value: dict) -> None:
        self.put_many(table, [(key, value)])

    def put_many(self, table: str, items: list[tuple[str, dict]], release_owner: str | None = None) -> None:
        """Store values in one commit; with `release_owner`, that owner's leases on their keys are dropped in
        the same commit (an answer and the end of its lease are never seen apart)."""
        with self._lock:
            self._db.executemany(f"INSERT OR REPLACE INTO {table} (key, value) VALUES (?, ?)",
                                 [(k, json.dumps(v)) for k, v in items])
            if release_owner is not None:
                self._db.executemany(RELEASE, [(k, release_owner) for k, _ in items])
            self._db.commit()

    def claim(self, table: str, key: str, owner: str, seconds: float) -> tuple[bool, dict | None]:
        """(claimed, answer): the answer when `table` has one; else the lease on the request for `seconds`,
        unless another owner holds a live one (claimed False). Runs sharing a cache so send a request once
        and the others wait for its answer; an expired lease (its owner died or hung) is taken over. One
        transaction: checking and claiming cannot interleave with another process."""
        now = time.time()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                hit = self._db.execute(f"SELECT value FROM {table} WHERE key = ?", (key,)).fetchone()
                if hit:
                    self._db.rollback()
                    return False, json.loads(hit[0])
                row = self._db.execute("SELECT value FROM leases WHERE key = ?", (key,)).fetchone()
                held = json.loads(row[0]) if row else None
                if held and held["owner"] != owner and held["expires"] > now:
                    self._db.rollback()
                    return False, None
                self._db.execute("INSERT OR REPLACE INTO leases (key, value) VALUES (?, ?)",
                                 (key, json.dumps({"owner": owner, "expires": now + seconds})))
                self._db.commit()
                return True, None
            except BaseException:
                self._db.rollback()
                raise

    def release(self, key: str, owner: str) -> None:
        with self._lock:
            self._db.execute(RELEASE, (key, owner))
            self._db.commit()

    def count(self, table: str) -> int:
        with self._lock:
            return self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def file_digest(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def image_digest(image) -> str:
    """Hash of the decoded pixels (not the file), so the same picture hits the cache from any source."""
    import numpy as np

    arr = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return hashlib.sha256(str(arr.shape).encode() + arr.tobytes()).hexdigest()


class CacheWriter:
    """The judging stage's cache traffic on threads of its own, so that another process holding the
    cache's lock stalls these writes and never the event loop: requests in flight, timeouts and the
    progress bar go on. Leases go through `call` (the loop awaits the answer); answers go through
    `store`, which returns at once: a writer thread commits whatever has queued up in one transaction
    (one commit for many answers: a kill loses at most the few milliseconds not yet committed). A locked
    write is retried (`waited()` tells the stage how long to show); one still failing after
    LOCK_WAIT_S, or failing otherwise (a full disk), is given up and counted in `unsaved` with its
    reason. The answers themselves are never lost: the run keeps them and writes them to the run folder."""

    def __init__(self, cache: Cache, owner: str, table: str = "judgments") -> None:
        import queue
        from concurrent.futures import ThreadPoolExecutor

        self.cache, self.owner, self.table = cache, owner, table
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="vlmgrade-cache")
        self._answers: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._write_answers, name="vlmgrade-cache-writer", daemon=True)
        self._thread.start()
        self._busy_since: dict[str, float] = {}
        self.unsaved = 0
        self.reason = ""

    async def call(self, method: str, *args, fallback=None):
        import asyncio

        return await asyncio.get_running_loop().run_in_executor(self._executor, self._retrying, method, args,
                                                                fallback, 1)

    def store(self, key: str, value: dict) -> None:
        self._answers.put((key, value))

    def waited(self) -> float:
        """Seconds the longest write now under way has taken (0 when none is)."""
        since = min(self._busy_since.values(), default=None)
        return time.monotonic() - since if since is not None else 0.0

    def _write_answers(self) -> None:
        import queue

        done = False
        while not done:
            batch = [self._answers.get()]
            while True:
                try:
                    batch.append(self._answers.get_nowait())
                except queue.Empty:
                    break
            done = batch[-1] is None
            items = [item for item in batch if item is not None]
            if items:
                self._retrying("put_many", (self.table, items, self.owner), None, len(items))

    def _retrying(self, method: str, args: tuple, fallback, count: int):
        name = threading.current_thread().name
        started = self._busy_since[name] = time.monotonic()
        try:
            while True:
                try:
                    return getattr(self.cache, method)(*args)
                except sqlite3.Error as e:
                    locked = "locked" in str(e) or "busy" in str(e)
                    if locked and time.monotonic() - started < LOCK_WAIT_S:
                        time.sleep(0.2)
                        continue
                    self.unsaved += count
                    self.reason = str(e)
                    return fallback
        finally:
            self._busy_since.pop(name, None)

    def close(self) -> None:
        """Wait for every queued answer to be written (or given up)."""
        self._answers.put(None)
        self._thread.join()
        self._executor.shutdown(wait=True)
