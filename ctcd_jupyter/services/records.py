"""Service records in the state store: rows of JSON data, checked once when read.

A record is data (`kind`, `uuid`, JSON `config` + `runtime`), never a pickle: any process that
can read the store can rebuild the service from it, re-adopt its process, or stop it.
"""

from __future__ import annotations

import math
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import ServiceError, ServiceSpecError
from ..state import Store, ensure_dir, state_home
from .kinds import kind_class
from .status import ServiceState

__all__ = [
    "Field",
    "Record",
    "ServiceRecords",
    "check_fields",
    "validate_name",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ServiceSpecError(
            f"invalid service name {name!r}: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit", service=str(name))
    return name


# -- checking a record's fields (each kind declares its own table) ----------------------------
class Field(NamedTuple):
    """What a stored field must be: `what` for the message, `ok` to test a present value."""

    what: str
    ok: Callable[[Any], bool]
    required: bool = False


def _is_int(value: Any, lo: int, hi: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


TEXT = Field("a string", lambda v: isinstance(v, str), required=True)
OPTIONAL_TEXT = Field("a string or null", lambda v: v is None or isinstance(v, str))
OPTIONAL_NUMBER = Field("a number or null", lambda v: v is None or _is_number(v))
OPTIONAL_INT = Field("an integer or null", lambda v: v is None or _is_int(v, -2**31, 2**31))
PORT = Field("a port from 1 to 65535, or null", lambda v: v is None or _is_int(v, 1, 65535))
PORT_OR_PICK = Field("a port from 0 (pick one) to 65535, or null",
                     lambda v: v is None or _is_int(v, 0, 65535))
POSITIVE_INT = Field("a positive integer", lambda v: _is_int(v, 1, 2**62))
STRING_MAP = Field("an object of strings", lambda v: isinstance(v, dict) and all(
    isinstance(k, str) and isinstance(x, str) for k, x in v.items()))
COMMAND = Field("a non-empty list of strings", lambda v: isinstance(v, list) and bool(v) and all(
    isinstance(c, str) for c in v), required=True)


def state_field(required: bool = True) -> Field:
    names = [s.value for s in ServiceState]
    return Field("one of " + ", ".join(names), lambda v: v in names, required)


def check_fields(data: Mapping[str, Any], fields: Mapping[str, Field], where: str) -> None:
    """`ValueError` naming the first field of `data` that is missing or not what `fields` say
    (fields not in the table are left alone)."""
    for key, field in fields.items():
        if key not in data:
            if field.required:
                raise ValueError(f"{where}.{key} is missing")
            continue
        if not field.ok(data[key]):
            raise ValueError(f"{where}.{key} is {data[key]!r:.60}, which is not {field.what}")


@dataclass
class Record:
    """One row of the `services` table, checked at read: `data` is None and `problem` says why
    when the row cannot be trusted (bad JSON, missing or wrong fields, unknown kind)."""

    name: str
    uuid: str
    kind: str
    data: dict[str, Any] | None
    updated: float
    problem: str | None = None


_held: dict[Path, Store] = {}  # state folder -> its store, kept open between two calls
HELD_FOLDERS = 4
_held_lock = threading.Lock()
_HINT = "make it writable, or set CTCD_HOME to a writable folder"


class ServiceRecords:
    """The `services` table of one state folder. Writes are conditional on the record's uuid, so
    a process never overwrites a record another one created or replaced meanwhile."""

    def __init__(self, home: str | Path | None = None):
        self.home = state_home(home)
        # the workspace's own connection to this folder (held for the process's life, as a
        # service object may outlive any workspace)
        with _held_lock:
            store = _held.pop(self.home, None)
            if store is None or store.closed or not store.path.exists():
                try:
                    store = Store.shared(self.home)
                except sqlite3.Error as exc:
                    raise self._error(exc, self.home / "state.db") from None
            _held[self.home] = store  # the most recently used last
            while len(_held) > HELD_FOLDERS:  # a process that went through many folders
                _held.pop(next(iter(_held))).release()
        self.store = store

    def folder(self, name: str) -> Path:
        """`<home>/services/<name>/`, created 0700."""
        ensure_dir(self.home / "services")
        return ensure_dir(self.home / "services" / validate_name(name))

    def prepare_folder(self, name: str) -> tuple[Path, bool]:
        """The service's folder, created if needed and proven writable (its lock file), before
        any row names it; (folder, created). `ServiceError` naming the folder otherwise."""
        folder = self.home / "services" / validate_name(name)
        created = not folder.exists()
        try:
            self.folder(name)
            os.close(os.open(folder / ".lock", os.O_CREAT | os.O_RDWR, 0o600))
        except OSError as exc:
            raise ServiceError(
                f"cannot write the service folder {folder}: {exc.strerror or exc}; {_HINT}",
                service=name) from None
        return folder, created

    def _execute(self, sql: str, params: tuple = ()) -> list[Any]:
        try:
            return self.store.execute(sql, params)
        except sqlite3.Error as exc:
            raise self._error(exc, self.store.path) from None

    @staticmethod
    def _error(exc: sqlite3.Error, path: Path) -> ServiceError:
        text = str(exc)
        if "readonly" in text or "read-only" in text:
            why = f"the state store {path} is read-only ({text})"
        elif "full" in text:
            why = f"the state store {path} cannot grow: the disk is full ({text})"
        else:
            why = f"the state store {path} cannot be used ({text})"
        return ServiceError(f"{why}; {_HINT}")

    def get(self, name: str) -> Record | None:
        rows = self._execute("SELECT * FROM services WHERE name = ?", (name,))
        return self._record(rows[0]) if rows else None

    def all(self) -> list[Record]:
        return [self._record(r) for r in self._execute("SELECT * FROM services ORDER BY name")]

    def create(self, name: str, uuid: str, kind: str, data: dict[str, Any]) -> bool:
        """Insert the record unless one of that name exists; whether it was inserted."""
        return bool(self._execute(
            "INSERT INTO services (name, uuid, kind, data, updated) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO NOTHING RETURNING name",
            (name, uuid, kind, Store.dumps(data), time.time())))

    def update(self, name: str, uuid: str, kind: str, data: dict[str, Any],
               expected_uuid: str | None = None) -> bool:
        """Write the record if the stored one still has `expected_uuid` (default `uuid`)."""
        return bool(self._execute(
            "UPDATE services SET uuid = ?, kind = ?, data = ?, updated = ? "
            "WHERE name = ? AND uuid = ? RETURNING name",
            (uuid, kind, Store.dumps(data), time.time(), name, expected_uuid or uuid)))

    def put(self, name: str, uuid: str, kind: str, data: dict[str, Any]) -> None:
        """Write the record whatever is stored (tests and repairs only)."""
        self._execute(
            "INSERT INTO services (name, uuid, kind, data, updated) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET uuid=excluded.uuid, kind=excluded.kind, "
            "data=excluded.data, updated=excluded.updated",
            (name, uuid, kind, Store.dumps(data), time.time()))

    def delete(self, name: str, uuid: str | None = None) -> bool:
        if uuid is None:
            rows = self._execute("DELETE FROM services WHERE name = ? RETURNING name", (name,))
        else:
            rows = self._execute(
                "DELETE FROM services WHERE name = ? AND uuid = ? RETURNING name", (name, uuid))
        return bool(rows)

    @staticmethod
    def _record(row: Any) -> Record:
        """The one place a stored row is checked; whatever is wrong becomes `problem`."""
        name, uuid, kind = (str(row[k]) for k in ("name", "uuid", "kind"))
        updated = row["updated"]
        try:
            validate_name(row["name"])
            if not isinstance(row["uuid"], str) or not row["uuid"]:
                raise ValueError(f"uuid must be a non-empty string, not {row['uuid']!r:.60}")
            if not _is_number(updated):
                raise ValueError(f"updated must be a time in seconds, not {updated!r:.60}")
            cls = kind_class(kind)
            try:
                data = Store.loads(row["data"])
            except (TypeError, ValueError) as exc:
                raise ValueError(f"data is not JSON ({exc})") from None
            if not isinstance(data, dict):
                raise ValueError(f"data must be an object with config and runtime, not "
                                 f"{type(data).__name__}")
            for part in ("config", "runtime"):
                if not isinstance(data.get(part), dict):
                    raise ValueError(f"{part} must be an object, not {data.get(part)!r:.60}")
            cls.check_record(data["config"], data["runtime"])
        except (ServiceSpecError, ValueError, TypeError) as exc:
            problem = " ".join(str(exc).split())  # one line
            return Record(name, uuid, kind, None, updated if _is_number(updated) else 0.0,
                          problem=f"unreadable registry record: {problem}")
        return Record(name, uuid, kind, data, float(updated))
