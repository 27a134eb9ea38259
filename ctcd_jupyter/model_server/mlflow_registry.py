"""What the model server reads from the MLflow model registry: an alias's version, and where a
version's files are.

Reading is on the model server's boot path and on its alias poll (once a second). Through
`MlflowClient` a SQL-backed registry costs ~1.1 s of imports (SQLAlchemy's ORM, alembic) before
the first answer, in every server process. So for a SQLite or PostgreSQL registry whose tables
carry the columns read here (MLflow 2.x and 3.x do), the two reads are one indexed `SELECT`
each, read-only; anything else (another backend, workspaces, the `latest` pseudo-alias, tables
that do not look as expected) goes through `MlflowClient`, which stays the reference. Writes
(tagging a failed version) always go through `MlflowClient`.

A tracking server (`http(s)://`) is asked with one plain GET of its REST API per read, with a
short timeout and no retry: through `MlflowClient`, an alias poll sat in MLflow's HTTP retry
back-off for minutes while the server was down (no error shown), and went on waiting out a
back-off after it came back. The next poll is the retry. (Authentication plugins and client
certificates keep `MlflowClient`.)

Stdlib only at import time: the model server imports this before mlflow.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

__all__ = ["NotInRegistry", "RegistryReader", "RegistryUnreachable"]

_DELETED_STAGE = "Deleted_Internal"  # what MLflow's SQL store writes for a deleted version
_FALLBACK_ENV = ("MLFLOW_ENABLE_WORKSPACES", "MLFLOW_WORKSPACE")
_HTTP_FALLBACK_ENV = ("MLFLOW_TRACKING_AUTH", "MLFLOW_TRACKING_CLIENT_CERT_PATH")
# Seconds one read of a tracking server may take (the alias poll: the next poll retries).
HTTP_TIMEOUT_ENV = "CTCD_REGISTRY_TIMEOUT"
HTTP_TIMEOUT = 2.0


class NotInRegistry(LookupError):
    """The alias or version does not exist (or was deleted); the message says which."""


class RegistryUnreachable(OSError):
    """The tracking server did not answer, or answered with an error (password masked)."""


class RegistryReader:
    """Reads versions and aliases of the registry at `uri` (the tracking URI by default)."""

    def __init__(self, tracking_uri: str | None):
        self.tracking_uri = tracking_uri
        self.uri = os.environ.get("MLFLOW_REGISTRY_URI") or tracking_uri or ""
        self._client: Any = None
        self._sql: _Sql | bool | None = None  # None: not tried yet; False: not usable
        self._http = _Http.open(self.uri)
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
        if self._http is not None and alias.lower() != "latest":
            answer = self._http.get("registered-models/alias", name=name, alias=alias)
            return str(answer["model_version"]["version"])
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
        if self._http is not None:
            answer = self._http.get("model-versions/get-download-uri", timeout=10.0,
                                    name=name, version=str(version))
            return str(answer["artifact_uri"])
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


class _Http:
    """GETs of a tracking server's REST API (`/api/2.0/mlflow/...`), with MLflow's own
    credentials from the environment (token, user and password, TLS settings)."""

    def __init__(self, base: str, headers: dict[str, str], context: ssl.SSLContext | None):
        self.base, self.headers, self.context = base, headers, context
        self.shown = base  # no user or password: they went into the headers

    @classmethod
    def open(cls, uri: str) -> _Http | None:
        parts = urllib.parse.urlsplit(uri)
        if parts.scheme not in ("http", "https") or any(os.environ.get(k)
                                                         for k in _HTTP_FALLBACK_ENV):
            return None
        headers = {"User-Agent": "ctcd", "Accept": "application/json"}
        user = os.environ.get("MLFLOW_TRACKING_USERNAME") or urllib.parse.unquote(
            parts.username or "")
        password = os.environ.get("MLFLOW_TRACKING_PASSWORD") or urllib.parse.unquote(
            parts.password or "")
        token = os.environ.get("MLFLOW_TRACKING_TOKEN")
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif user or password:
            pair = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {pair}"
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port:
            netloc += f":{parts.port}"
        base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
        context = None
        if parts.scheme == "https":
            insecure = os.environ.get("MLFLOW_TRACKING_INSECURE_TLS", "").lower() == "true"
            context = ssl.create_default_context(
                cafile=os.environ.get("MLFLOW_TRACKING_SERVER_CERT_PATH") or None)
            if insecure:
                context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        return cls(base, headers, context)

    def get(self, route: str, *, timeout: float | None = None, **params: str) -> Any:
        if timeout is None:
            try:
                timeout = float(os.environ.get(HTTP_TIMEOUT_ENV) or HTTP_TIMEOUT)
            except ValueError:
                timeout = HTTP_TIMEOUT
        url = f"{self.base}/api/2.0/mlflow/{route}?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout, context=self.context) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            try:
                answer = json.loads(exc.read() or b"{}")
            except ValueError:
                answer = {}
            message = str(answer.get("message") or exc.reason)
            # a missing model or version is RESOURCE_DOES_NOT_EXIST; a missing alias, a 400
            if answer.get("error_code") == "RESOURCE_DOES_NOT_EXIST" or (
                    exc.code in (400, 404) and "not found" in message.lower()):
                raise NotInRegistry(message) from None
            raise RegistryUnreachable(
                f"the tracking server {self.shown} answered {exc.code}: {message}") from None
        except (OSError, ValueError) as exc:  # refused, timed out, reset, not JSON
            reason = getattr(exc, "reason", None) or exc
            raise RegistryUnreachable(
                f"the tracking server {self.shown} is unreachable: {reason}") from None


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
