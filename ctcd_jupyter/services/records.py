"""Service records in the state store, and the table of service kinds that can be stored.

A record is data (`kind`, `uuid`, JSON `config` + `runtime`), never a pickle: any process that
can read the store can rebuild the service from it, re-adopt its process, or stop it.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ServiceSpecError, did_you_mean
from ..state import Store, ensure_dir, state_home

if TYPE_CHECKING:
    from .base import BaseService

__all__ = [
    "SERVICE_KINDS",
    "Record",
    "ServiceRecords",
    "kind_class",
    "kind_name",
    "register_kind",
    "validate_name",
]

# Service kinds that may be stored: name → class. Classes add themselves with @register_kind.
SERVICE_KINDS: dict[str, type[BaseService]] = {}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")


def register_kind(name: str):
    """Class decorator: store services of this class under the kind `name`."""

    def decorate(cls: type[BaseService]) -> type[BaseService]:
        if cls.__module__ == "__main__":
            raise ServiceSpecError(
                f"service class {cls.__qualname__} is defined in __main__ (a notebook cell or "
                "script); another process could not import it. Define it in a module.",
                kind=name)
        SERVICE_KINDS[name] = cls
        cls.kind = name
        return cls

    return decorate


def kind_class(name: str) -> type[BaseService]:
    try:
        return SERVICE_KINDS[name]
    except KeyError:
        valid = ", ".join(sorted(SERVICE_KINDS))
        raise ServiceSpecError(
            f"unknown service kind {name!r}{did_you_mean(name, SERVICE_KINDS)}; "
            f"valid kinds: {valid}", kind=name) from None


def kind_name(cls: type) -> str:
    """The stored kind of a service class; refuses classes that are not registered kinds."""
    for name, known in SERVICE_KINDS.items():
        if known is cls:
            return name
    where = "defined in a notebook cell or script (__main__)" if cls.__module__ == "__main__" \
        else f"from module {cls.__module__}"
    valid = ", ".join(f"{k} ({v.__name__})" for k, v in sorted(SERVICE_KINDS.items()))
    raise ServiceSpecError(
        f"{cls.__qualname__} ({where}) is not a registered service kind, so it cannot be "
        f"stored as data; valid kinds: {valid}")


def validate_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ServiceSpecError(
            f"invalid service name {name!r}: use 1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit", service=str(name))
    return name


@dataclass
class Record:
    """One row of the `services` table. `data` is None when the row could not be parsed."""

    name: str
    uuid: str
    kind: str
    data: dict[str, Any] | None
    updated: float
    problem: str | None = None


_stores: dict[Path, Store] = {}
_stores_lock = threading.Lock()


class ServiceRecords:
    """The `services` table of one state folder."""

    def __init__(self, home: str | Path | None = None):
        self.home = state_home(home)
        with _stores_lock:
            store = _stores.get(self.home)
            if store is None or not store.path.exists():
                store = _stores[self.home] = Store(self.home)
        self.store = store

    def folder(self, name: str) -> Path:
        """`<home>/services/<name>/`, created 0700."""
        ensure_dir(self.home / "services")
        return ensure_dir(self.home / "services" / validate_name(name))

    def get(self, name: str) -> Record | None:
        rows = self.store.execute("SELECT * FROM services WHERE name = ?", (name,))
        return self._record(rows[0]) if rows else None

    def all(self) -> list[Record]:
        return [self._record(r) for r in self.store.execute("SELECT * FROM services ORDER BY name")]

    def put(self, name: str, uuid: str, kind: str, data: dict[str, Any]) -> None:
        self.store.execute(
            "INSERT INTO services (name, uuid, kind, data, updated) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET uuid=excluded.uuid, kind=excluded.kind, "
            "data=excluded.data, updated=excluded.updated",
            (name, uuid, kind, Store.dumps(data), time.time()))

    def delete(self, name: str, uuid: str | None = None) -> bool:
        if uuid is None:
            rows = self.store.execute("DELETE FROM services WHERE name = ? RETURNING name", (name,))
        else:
            rows = self.store.execute(
                "DELETE FROM services WHERE name = ? AND uuid = ? RETURNING name", (name, uuid))
        return bool(rows)

    @staticmethod
    def _record(row: Any) -> Record:
        name, uuid, kind = str(row["name"]), str(row["uuid"]), str(row["kind"])
        try:
            data = Store.loads(row["data"])
            if not isinstance(data, dict) or not isinstance(data.get("config"), dict) \
                    or not isinstance(data.get("runtime"), dict):
                raise ValueError("expected an object with 'config' and 'runtime' objects")
        except (TypeError, ValueError) as exc:
            return Record(name, uuid, kind, None, float(row["updated"] or 0),
                          problem=f"unreadable registry record: {exc}")
        return Record(name, uuid, kind, data, float(row["updated"] or 0))
