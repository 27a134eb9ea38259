"""The state store: one SQLite database (WAL) in the state folder, shared by kernels, the CLI and
the server extension. Rows other processes act on are JSON text, never pickles.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import StateError

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
CREATE TABLE IF NOT EXISTS deploy_intents (
    service TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    claimed TEXT,
    claimed_at REAL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pins (
    service TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS serving_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,
    data TEXT NOT NULL,
    created REAL NOT NULL
);
"""


class Store:
    """A thread-safe handle on the state database at `home/state.db`.

    A database that is not SQLite, or a folder that cannot be written, gives a `StateError`
    naming the file and what to do. In a read-only folder the store opens read-only: reading
    commands (`ctcd runs`, `ctcd services list`) work, writes raise `StateError`."""

    def __init__(self, home: Path):
        self.home = Path(home)
        self.path = self.home / "state.db"
        self._lock = threading.RLock()
        self.readonly = False
        self.closed = False
        self._reopen = False  # closed because its last holder let go: reopened if used again
        self._users = 0  # holders of the shared store (`Store.shared` / `release`)
        self._tokens: dict[tuple[str, ...], tuple[tuple[int, int], tuple]] = {}
        try:
            self._conn = self._open()
        except sqlite3.DatabaseError as exc:
            raise self._error(exc, "open") from None

    def _open(self) -> sqlite3.Connection:
        fresh = not self.path.exists()
        if (not fresh and not os.access(self.path, os.W_OK)) or not _writable(self.home):
            return self._open_readonly()
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                               timeout=30.0)
        if fresh:
            os.chmod(self.path, 0o600)
        conn.row_factory = sqlite3.Row
        with self._lock:
            conn.execute("PRAGMA busy_timeout=30000")
            # Switching to WAL takes an exclusive lock and does not wait on the busy timeout:
            # two processes opening a new state folder at once must retry, not fail.
            deadline = time.monotonic() + 30.0
            while True:
                try:
                    conn.execute("PRAGMA journal_mode=WAL")
                    conn.executescript(SCHEMA)
                    break
                except sqlite3.OperationalError as exc:
                    if "readonly" in str(exc):
                        conn.close()
                        return self._open_readonly()
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def _open_readonly(self) -> sqlite3.Connection:
        if not self.path.exists():
            raise StateError(f"state folder {self.home} is read-only and has no state.db yet: "
                             "make it writable, or set CTCD_HOME to a folder you can write",
                             path=str(self.home))
        self.readonly = True
        # Read-only, reading the WAL if its files are there; else as immutable (then nobody can
        # be writing: the folder cannot be written).
        for options in ("mode=ro", "mode=ro&immutable=1"):
            conn = sqlite3.connect(f"file:{self.path}?{options}", uri=True,
                                   check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            try:
                conn.execute("SELECT count(*) FROM runs").fetchall()
                return conn
            except sqlite3.OperationalError as exc:
                conn.close()
                if "no such table" in str(exc):
                    raise StateError(f"{self.path} is not a ctcd state database (no runs "
                                     f"table)", path=str(self.path)) from None
        raise StateError(f"cannot read {self.path} in a read-only folder; make it writable",
                         path=str(self.path))

    def _error(self, exc: sqlite3.Error, doing: str) -> StateError:
        text = str(exc)
        if "not a database" in text or "malformed" in text:
            return StateError(
                f"{self.path} is not a readable ctcd state database ({text}): move it aside "
                f"(e.g. mv {self.path} {self.path}.broken) to start afresh, or set CTCD_HOME "
                f"to another folder", path=str(self.path))
        if "readonly" in text or "read-only" in text:
            return StateError(
                f"cannot {doing}: the state folder {self.home} is read-only; make it writable, "
                f"or set CTCD_HOME to a folder you can write", path=str(self.home))
        if isinstance(exc, sqlite3.OperationalError) and "disk" in text:
            return StateError(f"cannot {doing} in {self.path}: {text}; free disk space",
                              path=str(self.path))
        return StateError(f"state database {self.path}: {text}", path=str(self.path))

    def _reopened(self) -> None:
        """A store its holders let go of (`release`) and that someone still uses opens again."""
        if self.closed and self._reopen:
            self._conn = self._open()
            self.closed = self._reopen = False

    def execute(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            self._reopened()
            try:
                return self._conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc):
                    raise
                raise self._error(exc, _verb(sql)) from None
            except sqlite3.DatabaseError as exc:
                raise self._error(exc, _verb(sql)) from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction: read-modify-write without a race."""
        with self._lock:
            self._reopened()
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise self._error(exc, "write") from None
            try:
                yield self._conn
            except sqlite3.DatabaseError as exc:
                self._conn.execute("ROLLBACK")
                raise self._error(exc, "write") from None
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self.closed, self._reopen = True, False
            self._conn.close()

    # -- one connection per state folder and process -----------------------------------------
    @classmethod
    def shared(cls, home: str | os.PathLike) -> Store:
        """The process's one store of `home` (the workspace, the service records and the
        serving history share its connection); each holder calls `release()` when done."""
        key = Path(home).expanduser().resolve()
        with _shared_lock:
            store = _shared.get(key)
            # a folder made read-only since it was opened is opened afresh (read-only): the
            # old connection could still write, which the folder's owner just forbade
            if store is None or store.closed or not store.path.exists() or (
                    not store.readonly and not _writable(key)):
                store = _shared[key] = cls(key)
            store._users += 1
            return store

    def release(self) -> None:
        """A holder of the shared store is done with it; the last one closes it."""
        with _shared_lock:
            self._users -= 1
            if self._users > 0:
                return
            if _shared.get(self.home) is self:
                del _shared[self.home]
        with self._lock:
            self._conn.close()
            self.closed, self._reopen = True, True

    # -- what a view polls ---------------------------------------------------------------------
    def change_token(self, *tables: str) -> tuple:
        """Something that changes whenever a row of `tables` is written, by this process or any
        other: what a displayed panel polls. Cheap: while SQLite's data_version (commits by
        other connections) and this connection's change count are unchanged, the last token is
        returned without reading a table; otherwise one aggregate per table."""
        unknown = [t for t in tables if t not in _TOKEN_SQL]
        if unknown:
            raise ValueError(f"no change token for table(s) {', '.join(unknown)}; known: "
                             f"{', '.join(sorted(_TOKEN_SQL))}")
        with self._lock:
            self._reopened()
            try:
                version = (self._conn.execute("PRAGMA data_version").fetchone()[0],
                           self._conn.total_changes)
                cached = self._tokens.get(tables)
                if cached is not None and cached[0] == version:
                    return cached[1]
                token = tuple(tuple(self._conn.execute(_TOKEN_SQL[t]).fetchone())
                              for t in tables)
            except sqlite3.DatabaseError as exc:
                raise self._error(exc, "read the state database") from None
            self._tokens[tables] = (version, token)
            return token

    # -- small JSON helpers shared by the record modules ------------------------------------
    @staticmethod
    def dumps(data: Any) -> str:
        return json.dumps(data, sort_keys=True, default=str)

    @staticmethod
    def loads(text: str) -> Any:
        return json.loads(text)


_shared: dict[Path, Store] = {}
_shared_lock = threading.Lock()

# What changes when a table's rows change: rows are replaced (new rowid) or carry `updated`.
_TOKEN_SQL = {
    "runs": "SELECT count(*), max(rowid) FROM runs",
    "schedules": "SELECT count(*), max(updated) FROM schedules",
    "services": "SELECT count(*), max(updated) FROM services",
    "pipelines": "SELECT count(*), max(updated) FROM pipelines",
    "deployments": "SELECT count(*), max(id) FROM deployments",
    "serving_history": "SELECT count(*), max(id) FROM serving_history",
}


def _writable(folder: Path) -> bool:
    """Whether files can be created in `folder` (root ignores modes: only a read-only mount or
    an immutable folder stops it, so ask the file system, not the mode bits)."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".ctcd-probe-")
    except OSError:
        return False
    os.close(fd)
    os.unlink(probe)
    return True


def _verb(sql: str) -> str:
    word = sql.lstrip().split(" ", 1)[0].upper()
    return "read the state database" if word == "SELECT" else "write the state database"
