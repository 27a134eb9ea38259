"""`ServiceState` and `BaseService`: the bookkeeping every service shares.

The base class keeps the wanted and observed state, the last error and the registry record in
step, and runs the deadline-bounded waits; subclasses only launch, probe and terminate.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

from ..clock import Monotonic
from ..errors import CtcdError, ServiceError, ServiceStartError
from ..progress import reporter as _reporter  # mlflow_serving imports it from here
from .records import (
    OPTIONAL_NUMBER,
    OPTIONAL_TEXT,
    Field,
    Record,
    ServiceRecords,
    check_fields,
    state_field,
    validate_name,
)
from .status import ServiceState

__all__ = ["BaseService", "ServiceState"]

# How often a start looks whether the service answers: a health check is a connect to
# loopback, so a short beat costs little and a server is used ~0.1 s sooner than at 0.1 s.
HEALTH_POLL = 0.025



def _normalized(config: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(config, sort_keys=True))


class BaseService:
    """A long-lived process known to the registry, found again by any process using the store.

    Subclasses implement `_launch`, `_observe`, `_terminate`, `health_check` and may override
    `endpoint`; `start`, `stop`, `restart` and `status` do the bookkeeping around them.
    """

    kind: ClassVar[str] = "base"
    start_timeout: ClassVar[float] = 60.0
    stop_timeout: ClassVar[float] = 10.0
    # What a stored record must hold: checked once, when the row is read (records.py).
    config_fields: ClassVar[dict[str, Field]] = {}
    runtime_fields: ClassVar[dict[str, Field]] = {
        "wanted": state_field(), "status": state_field(), "last_error": OPTIONAL_TEXT,
        "started": OPTIONAL_NUMBER, "healthy_after": OPTIONAL_NUMBER}

    @classmethod
    def check_record(cls, config: dict[str, Any], runtime: dict[str, Any]) -> None:
        """`ValueError` naming the first stored field that is missing or wrong; subclasses add
        fields to the tables or checks of their own."""
        check_fields(config, cls.config_fields, "config")
        check_fields(runtime, cls.runtime_fields, "runtime")

    def __init__(self, name: str, *, home: str | Path | None = None,
                 monotonic: Monotonic = time.monotonic, **config: Any):
        self._setup(validate_name(name), None, _normalized(config), None, home, monotonic)
        self._register()

    # -- construction ------------------------------------------------------------------------
    def _setup(self, name: str, uuid: str | None, config: dict[str, Any],
               runtime: dict[str, Any] | None, home: str | Path | None,
               monotonic: Monotonic) -> None:
        self._name = name
        self._uuid = uuid or uuidlib.uuid4().hex
        self.config = config
        self._runtime: dict[str, Any] = runtime or {}
        self._runtime.setdefault("wanted", ServiceState.INACTIVE.value)
        self._runtime.setdefault("status", ServiceState.INACTIVE.value)
        self._runtime.setdefault("last_error", None)
        self._records = ServiceRecords(home)
        self._monotonic = monotonic
        self._lock = threading.RLock()
        self._held = 0  # depth of _exclusive() in this object (the file lock is not reentrant)
        self._attached = True
        self._problem: str | None = None  # the stored record is unreadable: never act on it

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        """Start and stop hold this: one at a time per service name across threads and
        processes (two kernels starting "iris" at once would launch two servers)."""
        with self._lock:
            if self._held:
                self._held += 1
                try:
                    yield
                finally:
                    self._held -= 1
                return
            folder, _ = self._records.prepare_folder(self._name)
            fd = os.open(folder / ".lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._held = 1
                try:
                    yield
                finally:
                    self._held = 0
            finally:
                os.close(fd)  # closing releases the lock

    @classmethod
    def _from_record(cls, record: Record, *, home: str | Path | None = None,
                     monotonic: Monotonic = time.monotonic) -> BaseService:
        """The service a registry record describes, attached to that record (no store writes)."""
        svc = cls.__new__(cls)
        assert record.data is not None
        svc._setup(record.name, record.uuid, record.data["config"], record.data["runtime"],
                   home, monotonic)
        return svc

    @classmethod
    def _detached(cls, name: str, uuid: str, config: dict[str, Any], *,
                  home: str | Path | None = None) -> BaseService:
        """A service rebuilt from a spec whose record is gone or was replaced; `start()` registers
        it again."""
        svc = cls.__new__(cls)
        svc._setup(validate_name(name), uuid, _normalized(config), None, home, time.monotonic)
        svc._attached = False
        return svc

    def _register(self) -> None:
        """Adopt the record of the same name and configuration, or write a new one.

        Atomic against other processes: the row is inserted only if none exists, and replaced
        only if it is still the one we looked at. A record of that name that runs something
        else, or that cannot be read, is never overwritten. The service's folder is created
        (and proven writable) first, so a failure leaves no row behind.
        """
        with self._lock:
            folder, created = self._records.prepare_folder(self._name)
            try:
                self._register_row()
            except BaseException:
                if created:  # leave nothing behind: neither a row nor an empty folder
                    with contextlib.suppress(OSError):
                        (folder / ".lock").unlink()
                        folder.rmdir()
                raise

    def _register_row(self) -> None:
        data = {"config": self.config, "runtime": self._runtime}
        while True:
            record = self._records.get(self._name)
            if record is None:
                if self._records.create(self._name, self._uuid, self.kind, data):
                    self._attached, self._problem = True, None
                    return
                continue  # another process created it just now: look at theirs
            if record.data is None:
                raise ServiceError(
                    f"service {self._name!r} has an unreadable registry record "
                    f"({record.problem}); delete it with `ctcd services delete {self._name}` "
                    "first", service=self._name)
            if record.kind == self.kind and record.data["config"] == self.config:
                self._uuid = record.uuid
                self._runtime = record.data["runtime"]
                self._attached, self._problem = True, None
                return
            if self._record_is_live(record):
                raise ServiceError(
                    f"service {self._name!r} is running as a {record.kind} service with a "
                    "different configuration; stop or delete it first, or choose another "
                    "name", service=self._name)
            if self._records.update(self._name, self._uuid, self.kind, data,
                                    expected_uuid=record.uuid):
                self._attached, self._problem = True, None
                return

    def _record_is_live(self, record: Record) -> bool:
        """Whether a record (of any kind) still has processes running. Subclasses refine."""
        return bool(record.data and record.data["runtime"].get("process"))

    # -- identity and observed state ----------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @property
    def uuid(self) -> str:
        return self._uuid

    @property
    def home(self) -> Path:
        return self._records.home

    @property
    def folder(self) -> Path:
        return self._records.folder(self._name)

    @property
    def wanted(self) -> ServiceState:
        self._fresh()
        return ServiceState(self._runtime["wanted"])

    @property
    def last_error(self) -> str | None:
        self._fresh()
        return self._runtime.get("last_error")

    def _fresh(self) -> None:
        """Public reads see what any process last recorded (one small SQLite read)."""
        with self._lock:
            self._reload()

    @property
    def endpoint(self) -> str | None:
        return None

    @property
    def status(self) -> ServiceState:
        """The observed state, checked now (process identity and health check)."""
        return self.check()

    @property
    def is_running(self) -> bool:
        return self.status is ServiceState.ACTIVE

    def check(self) -> ServiceState:
        """Look at the process now, record what is seen and return it."""
        with self._lock:
            self._reload()
            if self._problem:
                return ServiceState.ERROR
            if not self._attached:
                return ServiceState.INACTIVE
            state, error = self._observe()
            if state.value != self._runtime["status"] or (
                    error and error != self._runtime.get("last_error")):
                self._runtime["status"] = state.value
                if error:
                    self._runtime["last_error"] = error
                self._save()
            return state

    def health_check(self) -> bool:
        return True

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self, timeout: float | None = None, *,
              progress: bool | Callable[[str], None] | None = None) -> BaseService:
        """Start the service and wait until it is healthy; a no-op when it already is.

        `progress`: None shows one self-updating status line when called from a notebook
        cell (silent elsewhere); True prints each step to stderr; a callable gets the messages.

        On any failure (including a timeout or an interrupt) whatever was launched is stopped,
        the service is marked ERROR with the reason, and the error is raised.
        """
        timeout = self.start_timeout if timeout is None else float(timeout)
        report = _reporter(self._name, progress)
        with self._exclusive():
            deadline = self._monotonic() + timeout
            self._reload()
            self._refuse_unreadable()
            if not self._attached:
                # Our record was replaced or deleted (e.g. another process registered the same
                # service first): adopt what is stored now, then judge *that* state.
                self._register()
            state = self.check()
            if state is ServiceState.ACTIVE:
                report("already running")
                return self
            if state is ServiceState.ERROR and self._running():
                # Alive but not answering (yet, or for a moment): wait for it like a start in
                # progress instead of killing what may be a healthy, busy server.
                state = ServiceState.PENDING_STARTUP
            if state is not ServiceState.PENDING_STARTUP:
                self._terminate(timeout=self.stop_timeout, force=False)  # leftovers of a failure
                self._set(wanted=ServiceState.ACTIVE, status=ServiceState.PENDING_STARTUP,
                          last_error=None, started=time.time())
                report("launching")
            try:
                if state is not ServiceState.PENDING_STARTUP:
                    self._launch(deadline)
                    launched = {k: self._runtime.get(k) for k in ("process", "port")}
                    if not self._save():
                        self._runtime.update(launched)  # ours to kill, though unrecorded
                        raise ServiceError(
                            f"service {self._name!r} was deleted or replaced by another "
                            "process while it was starting", service=self._name)
                try:
                    self._wait_healthy(deadline, timeout, report)
                except ServiceStartError as exc:
                    if not self._retry_start(exc):
                        raise
                    # e.g. a port picked as free was taken before the server bound it
                    report("retrying on another port")
                    self._terminate(timeout=self.stop_timeout, force=True)
                    self._launch(deadline)
                    self._save()
                    self._wait_healthy(deadline, timeout, report)
            except BaseException as exc:
                self._abort_start(exc)
                raise
            self._set(status=ServiceState.ACTIVE, healthy_after=time.time()
                      - self._runtime.get("started", time.time()))
            report(f"ACTIVE at {self.endpoint}" if self.endpoint else "ACTIVE")
        self._after_start()
        return self

    def _abort_start(self, exc: BaseException) -> None:
        try:
            self._terminate(timeout=self.stop_timeout, force=True)
        finally:
            message = str(exc) if isinstance(exc, CtcdError) else f"{type(exc).__name__}: {exc}"
            self._set(wanted=ServiceState.INACTIVE, status=ServiceState.ERROR, last_error=message)

    def _refuse_unreadable(self) -> None:
        if self._problem:
            raise ServiceError(
                f"service {self._name!r} has an unreadable registry record ({self._problem}); "
                f"delete it with `ctcd services delete {self._name}`", service=self._name)

    def _running(self) -> bool:
        """Whether the recorded process is alive (subclasses that have processes say)."""
        return False

    def _wait_healthy(self, deadline: float, timeout: float, report: Callable[[str], None]) -> None:
        next_report = self._monotonic() + 2.0
        while True:
            failure = self._startup_failure()
            if failure is not None:
                raise failure
            if self.health_check():
                return
            now = self._monotonic()
            if now >= deadline:
                raise ServiceStartError(
                    f"service {self._name!r} did not become healthy within {timeout:g} s",
                    service=self._name, log_tail=self.logs(tail=20))
            if now >= next_report:
                report(f"starting ({timeout - (deadline - now):.0f} s)")
                next_report = now + 2.0
            time.sleep(min(HEALTH_POLL, max(0.0, deadline - now)))

    def _retry_start(self, error: ServiceStartError) -> bool:
        """Whether a failed start is worth one more launch (subclasses decide)."""
        return False

    def _startup_failure(self) -> ServiceStartError | None:
        """An error when the launched process already died; None while it may still come up."""
        return None

    def stop(self, timeout: float | None = None, *, force: bool = False) -> BaseService:
        """Stop the service (TERM, then KILL after `timeout`; KILL at once with `force`)."""
        timeout = self.stop_timeout if timeout is None else float(timeout)
        with self._exclusive():
            self._reload()
            self._refuse_unreadable()
            if not self._attached:
                return self
            self._set(wanted=ServiceState.INACTIVE, status=ServiceState.PENDING_SHUTDOWN)
            try:
                self._terminate(timeout=timeout, force=force)
            except BaseException as exc:
                self._set(status=ServiceState.ERROR, last_error=str(exc))
                raise
            self._set(status=ServiceState.INACTIVE)
            return self

    def restart(self, timeout: float | None = None) -> BaseService:
        self.stop()
        return self.start(timeout=timeout)

    def delete(self, *, stop: bool = True) -> None:
        """Forget the service: stop it (unless `stop=False`) and remove its record.

        An unreadable record is removed without acting on it: its processes, if any, cannot be
        proven to be ours."""
        with self._exclusive():
            self._reload()
            if stop and not self._problem:
                self.stop()
            self._records.delete(self._name, self._uuid)
            self._attached = False

    def logs(self, tail: int = 50) -> str:
        return ""

    # -- subclass hooks -----------------------------------------------------------------------
    def _launch(self, deadline: float) -> None:
        raise NotImplementedError

    def _after_start(self) -> None:
        """Called once a start made the service healthy, outside the service's lock."""

    def _observe(self) -> tuple[ServiceState, str | None]:
        raise NotImplementedError

    def _terminate(self, *, timeout: float, force: bool) -> None:
        raise NotImplementedError

    # -- the record ---------------------------------------------------------------------------
    def _set(self, **changes: Any) -> None:
        for key, value in changes.items():
            self._runtime[key] = value.value if isinstance(value, ServiceState) else value
        self._save()

    def _save(self) -> bool:
        """Write our record, only over our own (same uuid); False when it is no longer ours."""
        if not self._attached or self._problem:
            return False
        if self._records.update(self._name, self._uuid, self.kind,
                                {"config": self.config, "runtime": self._runtime}):
            return True
        self._detach()
        return False

    def _detach(self) -> None:
        self._attached = False
        self._runtime.update(status=ServiceState.INACTIVE.value, process=None,
                             last_error="no longer in the registry (deleted or replaced)")

    def _reload(self) -> None:
        """Take the stored runtime: another process may have stopped or restarted us."""
        if not self._attached and not self._problem:
            return
        record = self._records.get(self._name)
        if record is not None and record.data is None and record.uuid == self._uuid:
            # Our row went bad: report it, never act on it, never write over it.
            self._problem = record.problem
            self._runtime.update(status=ServiceState.ERROR.value, last_error=record.problem)
            return
        self._problem = None
        if record is None or record.uuid != self._uuid or record.data is None:
            self._detach()
            return
        self._attached = True
        self._runtime = record.data["runtime"]

    def describe(self) -> dict[str, Any]:
        """Everything known about the service, as JSON-able data."""
        status = self.status
        return {"name": self._name, "uuid": self._uuid, "kind": self.kind,
                "status": status.value, "wanted": self._runtime["wanted"],
                "endpoint": self.endpoint, "last_error": self.last_error,
                "config": self.config, "runtime": self._runtime,
                "folder": str(self.folder)}

    def __repr__(self) -> str:
        try:
            status = self.status.value
        except Exception as exc:  # a repr must not raise
            status = f"unknown ({type(exc).__name__})"
        where = f" {self.endpoint}" if self.endpoint else ""
        return f"<{type(self).__name__} {self._name!r} {status}{where}>"
