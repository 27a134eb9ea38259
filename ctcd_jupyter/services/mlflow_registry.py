"""What the model server reads from the MLflow model registry: an alias's version, and where a
version's files are.

Reading is on the model server's boot path and on its alias poll (once a second). Through
`MlflowClient` a SQL-backed registry costs ~1.1 s of imports (SQLAlchemy's ORM, alembic) before
the first answer, in every server process. So for a SQLite or PostgreSQL registry whose tables
carry the columns read here (MLflow 2.x and 3.x do), the two reads are one indexed `SELECT`
each, read-only; anything else (another backend, workspaces, the `latest` pseudo-alias, tables
that do not look as expected) goes through `MlflowClient`, which stays the reference. Writes
(tagging a failed version) always go through `MlflowClient`.

Stdlib only at import time: the model server imports this before mlflow.
"""

from __future__ import annotations

import contextlib
import os
import threading
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["NotInRegistry", "RegistryReader"]

_DELETED_STAGE = "Deleted_Internal"  # what MLflow's SQL store writes for a deleted version
_FALLBACK_ENV = ("MLFLOW_ENABLE_WORKSPACES", "MLFLOW_WORKSPACE")


class NotInRegistry(LookupError):
    """The alias or version does not exist (or was deleted); the message says which."""


class RegistryReader:
    """Reads versions and aliases of the registry at `uri` (the tracking URI by default)."""

    def __init__(self, tracking_uri: str | None):
        self.tracking_uri = tracking_uri
        self.uri = os.environ.get("MLFLOW_REGISTRY_URI") or tracking_uri or ""
        self._client: Any = None
        self._sql: _Sql | bool | None = None  # None: not tried yet; False: not usable
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri,
                                        registry_uri=os.environ.get("MLFLOW_REGISTRY_URI"))
        return self._client

    @property
    def direct(self) -> bool:
        """Whether reads go straight to the registry's tables (else through MlflowClient)."""
        return self._direct() is not None

    def version_of(self, name: str, alias: str) -> str:
        """The version `models:/name@alias` points at now."""
        sql = self._direct() if alias.lower() != "latest" else None
        if sql is None:
            try:
                return str(self.client.get_model_version_by_alias(name, alias).version)
            except Exception as exc:
                if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")):
                    raise NotInRegistry(str(exc).splitlines()[0]) from exc
                raise
        version = sql.one(
            "SELECT version FROM registered_model_aliases WHERE name = ? AND alias = ?",
            (name, alias))
        if version is None:
            raise NotInRegistry(f"registered model {name!r} has no alias {alias!r}")
        version = str(version[0])
        self.location(name, version)  # an alias left on a deleted version is no version
        return version

    def location(self, name: str, version: str) -> str:
        """Where the files of version `version` of `name` are (what to download)."""
        sql = self._direct()
        if sql is None:
            return str(self.client.get_model_version_download_uri(name, version))
        row = sql.one(
            "SELECT storage_location, source, current_stage FROM model_versions "
            "WHERE name = ? AND version = ?", (name, int(version)))
        if row is None or row[2] == _DELETED_STAGE:
            raise NotInRegistry(f"registered model {name!r} has no version {version}")
        location = row[0] or row[1]
        if not location:
            raise NotInRegistry(f"version {version} of {name!r} names no files")
        return str(location)

    # -- the direct path ----------------------------------------------------------------------
    def _direct(self) -> _Sql | None:
        with self._lock:
            if self._sql is None:
                self._sql = _Sql.open(self.uri) or False
                if any(os.environ.get(key) for key in _FALLBACK_ENV):
                    self._sql = False
            return self._sql or None

    def close(self) -> None:
        with self._lock:
            if self._sql:
                self._sql.close()
            self._sql = None


class _Sql:
    """One read-only connection to a SQLite or PostgreSQL registry, questions with `?`."""

    def __init__(self, connect, paramstyle: str, workspace: bool, same=None):
        self._connect, self._conn = connect, None
        self._paramstyle, self._workspace = paramstyle, workspace
        # `same()`: what the connection is to (a SQLite file's inode); when it changes, or
        # raises because the file is gone, the connection is not trusted any more
        self._same, self._to = same, None
        self._lock = threading.Lock()

    @classmethod
    def open(cls, uri: str) -> _Sql | None:
        scheme = uri.split(":", 1)[0].lower()
        try:
            same = None
            if scheme == "sqlite":
                (connect, same), style = _sqlite(uri), "qmark"
            elif scheme.split("+")[0] in ("postgresql", "postgres"):
                connect, style = _postgres(uri), "format"
            else:
                return None
            sql = cls(connect, style, workspace=False, same=same)
            columns = sql._columns("model_versions")
            if not {"name", "version", "source", "storage_location",
                    "current_stage"} <= columns:
                sql.close()
                return None
            if not {"name", "alias", "version"} <= sql._columns("registered_model_aliases"):
                sql.close()
                return None
            sql._workspace = "workspace" in columns
            return sql
        except Exception:  # no driver, no file yet, no tables yet: MlflowClient decides
            return None

    def _columns(self, table: str) -> set[str]:
        with self._lock:
            cursor = self._cursor()
            cursor.execute(f"SELECT * FROM {table} WHERE 1 = 0")
            return {d[0].lower() for d in cursor.description}

    def one(self, query: str, params: tuple) -> tuple | None:
        if self._workspace:  # single-tenant MLflow keeps everything in workspace 'default'
            query, params = query + " AND workspace = ?", (*params, "default")
        if self._paramstyle == "format":
            query = query.replace("?", "%s")
        with self._lock:
            try:
                cursor = self._cursor()
                cursor.execute(query, params)
                return cursor.fetchone()
            except Exception:
                self._drop()  # a broken connection is reopened on the next question
                raise

    def _cursor(self) -> Any:
        if self._same is not None:
            now = self._same()  # FileNotFoundError: the registry is unreachable, say so
            if self._conn is not None and now != self._to:
                self._drop()  # replaced (restored, rewritten): an open one reads the old file
            self._to = now
        if self._conn is None:
            self._conn = self._connect()
        return self._conn.cursor()

    def _drop(self) -> None:
        with contextlib.suppress(Exception):
            if self._conn is not None:
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._drop()


def _sqlite(uri: str):
    import sqlite3

    path = urllib.parse.urlsplit(uri).path
    if uri.startswith("sqlite:////"):
        path = "/" + path.lstrip("/")
    elif uri.startswith("sqlite:///"):
        path = path[1:]  # relative to the working folder, as SQLAlchemy reads it
    if not path or path == ":memory:" or not os.path.exists(path):
        raise FileNotFoundError(path)
    path = os.path.abspath(path)
    target = "file:" + urllib.request.pathname2url(path) + "?mode=ro"

    def connect() -> Any:
        conn = sqlite3.connect(target, uri=True, timeout=10, check_same_thread=False)
        conn.isolation_level = None  # autocommit: every read sees the newest commit
        return conn

    def same() -> tuple[int, int]:
        info = os.stat(path)
        return info.st_dev, info.st_ino

    return connect, same


def _postgres(uri: str):
    import psycopg2  # what MLflow's own PostgreSQL store uses

    dsn = "postgresql:" + uri.split(":", 1)[1]

    def connect() -> Any:
        conn = psycopg2.connect(dsn, connect_timeout=10)
        conn.set_session(readonly=True, autocommit=True)
        return conn

    return connect
