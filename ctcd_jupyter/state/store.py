"""The state store: one SQLite database (WAL) in the state folder, shared by kernels, the CLI and
the server extension. Rows other processes act on are JSON text, never pickles.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA", "Store"]

# One table per noun. Each record's detail lives in a JSON `data` column so a record can grow
# fields without a migration; the columns beside it are the ones we filter or sort on.
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_pipeline ON runs (pipeline, started);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started);
CREATE TABLE IF NOT EXISTS step_cache (
    fingerprint TEXT PRIMARY KEY,
    step TEXT NOT NULL,
    outputs TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pipelines (
    name TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS schedules (
    name TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS services (
    name TEXT PRIMARY KEY,
    uuid TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    model_name TEXT NOT NULL,
    data TEXT NOT NULL,
    created REAL NOT NULL
);
"""


class Store:
    """A thread-safe handle on the state database at `home/state.db`."""

    def __init__(self, home: Path):
        self.home = Path(home)
        self.path = self.home / "state.db"
        self._lock = threading.RLock()
        fresh = not self.path.exists()
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        if fresh:
            os.chmod(self.path, 0o600)
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.execute("PRAGMA busy_timeout=30000")
            # Switching to WAL takes an exclusive lock and does not wait on the busy timeout:
            # two processes opening a new state folder at once must retry, not fail.
            deadline = time.monotonic() + 30.0
            while True:
                try:
                    self._conn.execute("PRAGMA journal_mode=WAL")
                    self._conn.executescript(SCHEMA)
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            self._conn.execute("PRAGMA synchronous=NORMAL")

    def execute(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction: read-modify-write without a race."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- small JSON helpers shared by the record modules ------------------------------------
    @staticmethod
    def dumps(data: Any) -> str:
        return json.dumps(data, sort_keys=True, default=str)

    @staticmethod
    def loads(text: str) -> Any:
        return json.loads(text)
