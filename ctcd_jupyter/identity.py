"""Who a process is: the one rule for "is this pid still the process we recorded?".

A process is identified by its pid and its start time. The command line is not part of it (an
exec changes it under the same process). On Linux the start is also kept as seconds since boot
with the boot's id, which no clock step moves; elsewhere, or for records that only hold a
wall-clock start (runs store `{"pid", "started"}`), wall-clock starts must agree within
`CREATE_TIME_SLACK`. Imports only the standard library, psutil and `ctcd_jupyter.errors`.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psutil

from .enums import StrEnum

__all__ = [
    "CREATE_TIME_SLACK",
    "MAX_PID",
    "Liveness",
    "ProcessIdentity",
    "check_pid",
    "current",
    "is_alive",
    "liveness",
    "process_of",
    "protected_pids",
    "refuse_signal",
]

# psutil's wall-clock start = boot time + start ticks, and the kernel reports the boot time in
# whole seconds derived from the wall clock: one process can be seen a second apart by two
# readers (or by one reader before and after a clock adjustment). A pid reused within a second
# of the recorded start needs the whole pid space to wrap in that second.
CREATE_TIME_SLACK = 1.0
# Seconds-since-boot starts come from the same tick count: equal up to float rounding.
_BOOT_SLACK = 0.001
MAX_PID = 2**22  # Linux's PID_MAX_LIMIT; no pid is this large


class Liveness(StrEnum):
    """What became of a recorded process."""

    ALIVE = "alive"  # the very process recorded is running
    GONE = "gone"  # it exited (a zombie counts as exited), or the machine rebooted since
    STALE = "stale"  # its pid belongs to another process, or we may not look: never signal it


@lru_cache(maxsize=1)
def _boot_id() -> str | None:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip() or None
    except OSError:
        return None


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _since_boot(proc: psutil.Process) -> float | None:
    """The start in seconds since boot: field 22 of /proc/PID/stat (Linux), else None."""
    try:
        with open(f"/proc/{proc.pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[19]) / _TICKS
    except (OSError, IndexError, ValueError):
        return None


def _number(data: Mapping[str, Any], key: str) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value < 0:
        raise ValueError(f"{key} is {value!r:.40}, not a non-negative number of seconds")
    return float(value)


def check_pid(value: Any, key: str = "pid") -> int:
    """`value` as a pid that may name a process of ours: an int from 2 to MAX_PID."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 < value < MAX_PID:
        raise ValueError(f"{key} is {value!r:.40}, not a process id from 2 to {MAX_PID - 1}")
    return value


@dataclass(frozen=True)
class ProcessIdentity:
    """A process, told apart from any later process that reuses its pid."""

    pid: int
    create_time: float  # seconds since the epoch, as psutil reports it
    since_boot: float | None = None  # start in seconds since boot (Linux), exact
    boot_id: str | None = None  # the boot `since_boot` counts from

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        """The identity of the running process `pid`; `psutil.NoSuchProcess` if there is none."""
        proc = psutil.Process(pid)
        since_boot = _since_boot(proc)
        return cls(pid, proc.create_time(), since_boot,
                   _boot_id() if since_boot is not None else None)

    @classmethod
    def from_dict(cls, data: Any) -> ProcessIdentity:
        """From `to_dict()`'s shape, or a run owner's `{"pid", "started"}`; `ValueError` names
        the field that is missing or wrong."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a process identity must be an object, not {data!r:.60}")
        pid = check_pid(data.get("pid"))
        key = "create_time" if "create_time" in data else "started"
        if key not in data:
            raise ValueError("a process identity needs create_time (or started)")
        create_time = _number(data, key)
        since_boot = _number(data, "since_boot") if data.get("since_boot") is not None else None
        boot_id = data.get("boot_id")
        if boot_id is not None and not isinstance(boot_id, str):
            raise ValueError(f"boot_id must be a string, not {boot_id!r:.60}")
        return cls(pid, create_time, since_boot, boot_id if since_boot is not None else None)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"pid": self.pid, "create_time": self.create_time}
        if self.since_boot is not None:
            data.update(since_boot=self.since_boot, boot_id=self.boot_id)
        return data

    def matches(self, proc: psutil.Process) -> bool:
        """Whether the live `proc` (same pid) is this process."""
        if self.since_boot is not None and self.boot_id is not None and self.boot_id == _boot_id():
            since_boot = _since_boot(proc)
            if since_boot is not None:
                return abs(since_boot - self.since_boot) <= _BOOT_SLACK
        return abs(proc.create_time() - self.create_time) <= CREATE_TIME_SLACK

    def __str__(self) -> str:
        return f"pid {self.pid}"


def _as_identity(identity: ProcessIdentity | Mapping[str, Any]) -> ProcessIdentity:
    return identity if isinstance(identity, ProcessIdentity) else \
        ProcessIdentity.from_dict(identity)


def current() -> ProcessIdentity:
    """This process (after a fork, the child)."""
    return _current(os.getpid())


@lru_cache(maxsize=4)
def _current(pid: int) -> ProcessIdentity:
    return ProcessIdentity.of(pid)


def liveness(identity: ProcessIdentity | Mapping[str, Any]) -> Liveness:
    """ALIVE, GONE or STALE for a recorded process (`ValueError` for a malformed record)."""
    ident = _as_identity(identity)
    if ident.boot_id is not None and _boot_id() is not None and ident.boot_id != _boot_id():
        return Liveness.GONE  # recorded in an earlier boot: that process is long gone
    try:
        proc = psutil.Process(ident.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return Liveness.GONE
        return Liveness.ALIVE if ident.matches(proc) else Liveness.STALE
    except psutil.NoSuchProcess:
        return Liveness.GONE
    except psutil.Error:  # AccessDenied: a process is there, and we cannot prove which
        return Liveness.STALE


def is_alive(identity: ProcessIdentity | Mapping[str, Any]) -> bool:
    """Whether the recorded process is provably still running. (A caller that must treat "cannot
    tell" as running, like a run's owner, asks `liveness(...) is not Liveness.GONE`.)"""
    return liveness(identity) is Liveness.ALIVE


def process_of(identity: ProcessIdentity) -> psutil.Process | None:
    """The live process `identity` names, or None when it is gone or not provably it."""
    try:
        proc = psutil.Process(identity.pid)
        if proc.status() != psutil.STATUS_ZOMBIE and identity.matches(proc):
            return proc
    except psutil.Error:
        pass
    return None


def protected_pids() -> set[int]:
    """Pids this process must never signal besides pids below 2: itself, the leaders of its
    group and session, and its ancestors (a forged record could name any of them)."""
    me = os.getpid()
    found = {me}
    with contextlib.suppress(OSError):
        found.update((os.getpgid(0), os.getsid(0)))
    with contextlib.suppress(psutil.Error):
        found.update(p.pid for p in psutil.Process(me).parents())
    return found


def refuse_signal(pid: int, protected: set[int] | None = None) -> str | None:
    """Why `pid` must never be signalled by us, or None. Refused: pids below 2 (0 and -1 mean
    whole groups, 1 is init) and `protected_pids()` (pass it in when checking many)."""
    if isinstance(pid, bool) or not isinstance(pid, int) or pid < 2:
        return f"pid {pid!r} is not a single process"
    if pid in (protected_pids() if protected is None else protected):
        return f"pid {pid} is this process, one of its leaders or one of its ancestors"
    return None
