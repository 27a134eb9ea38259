"""Find services again: `services()`, `get_service()`, and services as JSON specs.

Any process with the state folder (a new kernel, the CLI, the server extension) rebuilds each
service from its record and so re-adopts its running process; a record that cannot be read shows
up as an `UnknownService` instead of hiding the others.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from ..errors import ServiceError, ServiceNotFoundError, ServiceSpecError, unknown_name
from ..model_server import redact
from ..model_server.slot_files import remove_leftover_copies
from ..state import state_home
from . import transaction
from .base import BaseService, ServiceState
from .kinds import kind_class, kind_name
from .records import Record, ServiceRecords, validate_name

__all__ = [
    "UnknownService",
    "get_service",
    "remove_leftover_model_copies",
    "service_from_spec",
    "service_to_spec",
    "services",
]

SPEC_VERSION = 1


class UnknownService(BaseService):
    """A registry record that could not be understood: listed with the reason, never signalled.

    `delete()` removes the record; its process (if any) must be found by hand.
    """

    kind = "unknown"

    def __init__(self, record: Record, *, home: str | Path | None = None):
        self._setup(record.name, record.uuid, {}, {"status": "ERROR"}, home, _no_monotonic)
        self.stored_kind = record.kind
        self._runtime["last_error"] = record.problem

    def check(self) -> ServiceState:
        return ServiceState.ERROR

    @property
    def folder(self) -> Path:  # the stored name may be anything: never create folders for it
        return self.home / "services" / self._name

    def describe(self) -> dict[str, Any]:
        return {"name": self._name, "uuid": self._uuid, "kind": self.kind,
                "stored_kind": self.stored_kind, "status": ServiceState.ERROR.value,
                "wanted": None, "endpoint": None,
                "last_error": redact.text(self.last_error or "") or None,
                "config": {}, "runtime": {}}

    def _fresh(self) -> None:  # nothing readable to refresh from
        pass

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise ServiceError(
            f"service {self._name!r} has an unreadable record ({self.last_error}); "
            f"delete it with `ctcd services delete {self._name}`", service=self._name)

    start = stop = restart = _refuse  # type: ignore[assignment]

    def delete(self, *, stop: bool = True) -> None:
        """Remove the record, acting on nothing it names."""
        self._records.delete(self._name, self._uuid)

    def _save(self) -> bool:  # never overwrite what we could not read
        return False


def _no_monotonic() -> float:
    return 0.0


def _build(record: Record, home: str | Path | None) -> BaseService:
    if record.data is None:
        return UnknownService(record, home=home)
    try:
        cls = kind_class(record.kind)
        return cls._from_record(record, home=home)
    except (ServiceSpecError, KeyError, TypeError, ValueError) as exc:
        record.problem = record.problem or f"cannot rebuild {record.kind!r} service: {exc}"
        return UnknownService(record, home=home)


def _settled(found: list[BaseService], records: ServiceRecords) -> list[BaseService]:
    """Whoever looks at a service settles a deployment of it whose caller died first, so what
    is shown agrees with what is served (transaction.py)."""
    open_intents = transaction.pending_services(records.store)
    for svc in found:
        recover = getattr(svc, "recover", None)
        if svc.name in open_intents and recover is not None:
            with contextlib.suppress(Exception):  # a listing must not fail on it: next time
                recover()
    return found


def services(home: str | Path | None = None) -> list[BaseService]:
    """Every service in the registry (from this process or any other), by name."""
    records = ServiceRecords(home)
    return _settled([_build(r, home) for r in records.all()], records)


def get_service(name: str, home: str | Path | None = None) -> BaseService:
    """The service called `name`; `ServiceNotFoundError` lists the known names."""
    records = ServiceRecords(home)
    record = records.get(name)
    if record is None:
        known = [r.name for r in records.all()]
        raise ServiceNotFoundError(unknown_name("service", name, known), service=name)
    return _settled([_build(record, home)], records)[0]


def remove_leftover_model_copies(home: str | Path | None = None) -> list[Path]:
    """Remove the downloaded model copies that no live server holds (loads that timed out,
    servers that were killed), in every service folder of `home`; what was removed."""
    root = state_home(home) / "services"
    return [path for folder in sorted(root.glob("*")) if folder.is_dir()
            for path in remove_leftover_copies(folder)]


def service_to_spec(svc: BaseService) -> dict[str, Any]:
    """The service as JSON-able data: its kind, name, identity and configuration."""
    kind = kind_name(type(svc))
    return {"spec_version": SPEC_VERSION, "kind": kind, "name": svc.name, "uuid": svc.uuid,
            "config": dict(svc.config)}


def service_from_spec(spec: dict[str, Any], home: str | Path | None = None) -> BaseService:
    """The service a spec describes, re-attached to its registry record when that record is
    still the same service (same uuid); otherwise a detached copy that `start()` registers."""
    if not isinstance(spec, dict) or not {"kind", "name", "uuid", "config"} <= set(spec):
        raise ServiceSpecError(
            f"not a service spec (need kind, name, uuid, config): {spec!r:.200}")
    cls = kind_class(spec["kind"])
    name = validate_name(spec["name"])
    record = ServiceRecords(home).get(name)
    if record is not None and record.uuid == spec["uuid"] and record.data is not None:
        return cls._from_record(record, home=home)
    return cls._detached(name, spec["uuid"], spec["config"], home=home)
