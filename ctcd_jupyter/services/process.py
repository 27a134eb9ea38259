"""The one wrapper around launching, identifying and killing service processes.

A service runs in its own session (a kernel interrupt or restart never reaches it). Its output
goes through a small log writer that leads the session, so its pid numbers the session and the
process group. Who is ours is proven, never assumed from a number:

- a recorded process (leader, main, members seen later) is ours when its pid and start time
  match the record (`ctcd_jupyter.identity`) and it is in the recorded session;
- once one of them is proven alive in the recorded session, every process of that session is
  ours: Linux does not hand out a pid while a session or group of that number exists, so the
  session cannot be a later one that reused the number.
A process in the recorded session that nothing proves (all recorded processes are gone) is
reported, never signalled; one that left the session (setsid) is out of reach; and a pid below
2, this process, its leaders and its ancestors are never signalled whatever a record says.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from .. import identity
from ..clock import Monotonic
from ..identity import Liveness, ProcessIdentity

__all__ = [
    "Liveness",
    "Members",
    "ProcessRecord",
    "ServiceProcess",
    "adopt",
    "free_port",
    "group_members",
    "kill_group",
    "launch",
    "liveness",
    "log_tail",
    "members",
    "port_is_free",
    "wait_port_free",
]

RUNNER = Path(__file__).with_name("_logrunner.py")
EXIT_MARK = "[ctcd] command exited with code "
LIFELINE_ENV = "CTCD_LIFELINE"  # read by the log runner (_logrunner.py)
MASK_ENV = "CTCD_LOG_MASK"
DEFAULT_LOG_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_LOG_BACKUPS = 2



@dataclass(frozen=True)
class ProcessRecord:
    """A process we started or saw in our session: its identity, and its command line as it
    was then (informational: an exec changes it under the same process)."""

    identity: ProcessIdentity
    cmdline: tuple[str, ...] = ()

    @property
    def pid(self) -> int:
        return self.identity.pid

    @property
    def create_time(self) -> float:
        return self.identity.create_time

    def to_dict(self) -> dict[str, Any]:
        return {**self.identity.to_dict(), "cmdline": list(self.cmdline)}

    @classmethod
    def from_dict(cls, data: Any) -> ProcessRecord:
        ident = ProcessIdentity.from_dict(data)
        cmdline = data.get("cmdline", [])
        if not isinstance(cmdline, list) or not all(isinstance(c, str) for c in cmdline):
            raise ValueError(f"cmdline is {cmdline!r:.40}, not a list of strings")
        return cls(ident, tuple(cmdline))


@dataclass(frozen=True)
class ServiceProcess:
    """A launched service: the log writer leading the session (`leader`), the command (`main`),
    the session id recorded at launch, and members (workers) seen in it since."""

    leader: ProcessRecord
    main: ProcessRecord
    sid: int = 0  # 0: not recorded (older rows): the leader's pid, which started the session
    members: tuple[ProcessRecord, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.sid:
            object.__setattr__(self, "sid", self.leader.pid)

    @property
    def pgid(self) -> int:
        return self.sid

    @property
    def known(self) -> tuple[ProcessRecord, ...]:
        return (self.leader, self.main, *self.members)

    def to_dict(self) -> dict[str, Any]:
        return {"leader": self.leader.to_dict(), "main": self.main.to_dict(), "sid": self.sid,
                "members": [m.to_dict() for m in self.members]}

    @classmethod
    def from_dict(cls, data: Any) -> ServiceProcess:
        """`ValueError` naming the field when the stored shape is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError(f"process must be an object, not {data!r:.60}")
        parts = {}
        for who in ("leader", "main"):
            if who not in data:
                raise ValueError(f"process.{who} is missing")
            try:
                parts[who] = ProcessRecord.from_dict(data[who])
            except ValueError as exc:
                raise ValueError(f"process.{who}: {exc}") from None
        sid = data.get("sid") or 0
        if sid:
            try:
                identity.check_pid(sid, "sid")
            except ValueError as exc:
                raise ValueError(f"process.{exc}") from None
        found = data.get("members") or []
        if not isinstance(found, list):
            raise ValueError(f"process.members must be a list, not {found!r:.60}")
        try:
            seen = tuple(ProcessRecord.from_dict(m) for m in found)
        except ValueError as exc:
            raise ValueError(f"process.members: {exc}") from None
        return cls(parts["leader"], parts["main"], sid, seen)


# Children we launched from this process, kept so that exited ones are reaped (not zombies).
_children: dict[int, subprocess.Popen] = {}


def _reap() -> None:
    for pid, popen in list(_children.items()):
        if popen.poll() is not None:
            del _children[pid]


def launch(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: str | os.PathLike | None = None,
    log_max_bytes: int = DEFAULT_LOG_MAX_BYTES,
    log_backups: int = DEFAULT_LOG_BACKUPS,
    timeout: float = 15.0,
) -> ServiceProcess:
    """Start `argv` in a new session, its stdout and stderr going to a capped log file.

    The log runner leads the session and starts the command; it reports the command's pid on
    a pipe. Raises `OSError` when the command cannot be executed.
    """
    _reap()
    runner = subprocess.Popen(
        [sys.executable, "-S", "-u", str(RUNNER), str(log_path), str(log_max_bytes),
         str(log_backups), "--", *argv],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=dict(env) if env is not None else None, cwd=cwd, start_new_session=True,
        close_fds=True,
    )
    _children[runner.pid] = runner
    try:
        line = _read_line(runner.stdout, time.monotonic() + timeout)
    finally:
        runner.stdout.close()
    if not line.isdigit():
        runner.wait(timeout=timeout)
        raise OSError(f"cannot start {argv[0]!r}: {line.removeprefix('error ') or 'no pid'}")
    # The runner prints the pid after exec succeeded, so the command line recorded is the real one.
    # start_new_session: the runner's pid is the session's id.
    return ServiceProcess(_identify(runner.pid), _identify(int(line), fallback=argv),
                          sid=runner.pid)


def adopt(leader_pid: int, main_pid: int) -> ServiceProcess:
    """The record of a log runner leading its session and the command it waits for, started
    by someone else (the warm process, `warm_start.py`) rather than by `launch`."""
    return ServiceProcess(_identify(leader_pid), _identify(main_pid), sid=leader_pid)


def _read_line(stream: Any, deadline: float) -> str:
    fd = stream.fileno()
    # poll, not select: a process with over 1024 open files (a long test session, a kernel
    # with many services) gets fds select() cannot take ("filedescriptor out of range")
    waiting = select.poll()
    waiting.register(fd, select.POLLIN)
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not waiting.poll(remaining * 1000):
            break
        chunk = os.read(fd, 256)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def exit_code_in_log(path: Path) -> int | None:
    """The command's exit code, as the log runner noted it at the end of the log."""
    for line in reversed(log_tail(path, 40).splitlines()):
        if line.startswith(EXIT_MARK):
            try:
                return int(line[len(EXIT_MARK):])
            except ValueError:
                return None
    return None


def _identify(pid: int, fallback: Sequence[str] = ()) -> ProcessRecord:
    try:
        proc = psutil.Process(pid)
        return ProcessRecord(ProcessIdentity.of(pid), _cmdline(proc))
    except psutil.Error:  # already gone: keep what we know, it will read as GONE
        return ProcessRecord(ProcessIdentity(pid, time.time()), tuple(fallback))


def _cmdline(proc: psutil.Process) -> tuple[str, ...]:
    # /proc/PID/cmdline reads empty for a moment around exec: look again briefly.
    deadline = time.monotonic() + 0.2
    while True:
        try:
            cmdline = tuple(proc.cmdline())
        except psutil.Error:
            return ()
        while cmdline and not cmdline[-1]:  # a rewritten command line ends in padding
            cmdline = cmdline[:-1]
        if cmdline or time.monotonic() >= deadline:
            return cmdline
        time.sleep(0.01)


def liveness(record: ProcessRecord, sid: int | None = None) -> Liveness:
    """ALIVE, GONE or STALE, judged by pid and start time (`ctcd_jupyter.identity`) and, given
    `sid`, by the session recorded at launch: our process in another session is not ours."""
    _reap()
    life = identity.liveness(record.identity)
    if life is Liveness.ALIVE and sid is not None and _sid(record.pid) != sid:
        return Liveness.STALE
    return life


def _sid(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


@dataclass
class Members:
    """The live processes of a service: `ours` (proven, signallable) and `unproven` pids (in
    the recorded session, but nothing proves the session is still ours)."""

    ours: list[psutil.Process]
    unproven: list[int]

    def pids(self, *, without: Iterable[int] = ()) -> list[int]:
        skip = set(without)
        return [p.pid for p in self.ours if p.pid not in skip]


def members(sp: ServiceProcess) -> Members:
    """The service's live processes, proven as the module docstring says."""
    _reap()
    own_session = _sid(0)
    proven: dict[int, psutil.Process] = {}
    if sp.sid != own_session:  # our services never run in the caller's session
        for record in sp.known:
            proc = identity.process_of(record.identity)
            if proc is not None and _sid(proc.pid) == sp.sid:
                proven[proc.pid] = proc
    in_session: list[psutil.Process] = []
    for pid in psutil.pids():
        if _sid(pid) != sp.sid or pid in proven:
            continue
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                in_session.append(proc)
    ours = dict(proven)
    if proven:
        ours.update((p.pid, p) for p in in_session)
    unproven = [p.pid for p in in_session if p.pid not in ours]
    protected = identity.protected_pids()
    safe = [p for p in ours.values() if identity.refuse_signal(p.pid, protected) is None]
    return Members(sorted(safe, key=lambda p: p.pid), sorted(unproven))


def group_members(sp: ServiceProcess) -> list[psutil.Process]:
    """The service's live processes that are provably ours."""
    return members(sp).ours


def records_of(procs: Iterable[psutil.Process]) -> tuple[ProcessRecord, ...]:
    """Records of live processes, to remember them as members of a service."""
    found = []
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            found.append(ProcessRecord(ProcessIdentity.of(proc.pid), _cmdline(proc)))
    return tuple(found)


def _signal_all(procs: Iterable[psutil.Process], sig: int) -> None:
    protected = identity.protected_pids()
    for proc in procs:
        if identity.refuse_signal(proc.pid, protected) is not None:
            continue
        with contextlib.suppress(psutil.Error):  # psutil refuses a pid reused meanwhile
            proc.send_signal(sig)


def kill_group(sp: ServiceProcess, *, timeout: float, force: bool = False,
               monotonic: Monotonic = time.monotonic) -> list[int]:
    """TERM the service's processes (KILL at once when `force`), KILL what is left after
    `timeout`; returns the pids that had to be killed. Only proven processes are signalled.

    The log writer goes last: while it lives it proves the session is ours, so workers spawned
    (or left behind) meanwhile are found by a second look and killed too.
    """
    found = members(sp).ours
    if not found:
        return []
    leader = [p for p in found if p.pid == sp.leader.pid]
    others = [p for p in found if p.pid != sp.leader.pid]
    killed: list[int] = []
    if others:
        _signal_all(others, signal.SIGKILL if force else signal.SIGTERM)
        alive = _wait_gone(others, monotonic() + (0 if force else timeout), monotonic)
        killed += [p.pid for p in alive]
        _signal_all(alive, signal.SIGKILL)
        _wait_gone(alive, monotonic() + 5.0, monotonic)
        stragglers = [p for p in members(sp).ours if p.pid != sp.leader.pid]
        killed += [p.pid for p in stragglers]
        _signal_all(stragglers, signal.SIGKILL)
        _wait_gone(stragglers, monotonic() + 5.0, monotonic)
    # The log writer exits by itself once every writer of its pipe is gone.
    if leader and _wait_gone(leader, monotonic() + (0.2 if force else 2.0), monotonic):
        killed += [p.pid for p in leader]
        _signal_all(leader, signal.SIGKILL)
        _wait_gone(leader, monotonic() + 5.0, monotonic)
    _reap()
    return killed


def _wait_gone(procs: list[psutil.Process], deadline: float,
               monotonic: Monotonic) -> list[psutil.Process]:
    alive = list(procs)
    while alive:
        _reap()
        alive = [p for p in alive if _alive(p)]
        if not alive or monotonic() >= deadline:
            break
        time.sleep(0.02)
    return alive


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on host:port (TIME_WAIT leftovers do not count)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (the kernel's pick)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def wait_port_free(host: str, port: int, deadline: float,
                   monotonic: Monotonic = time.monotonic) -> bool:
    while not port_is_free(host, port):
        if monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def port_holders(port: int) -> list[str]:
    """`pid command` of processes listening on `port`, as far as we may see them."""
    holders = []
    try:
        conns = psutil.net_connections(kind="tcp")
    except psutil.Error:
        return holders
    for conn in conns:
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            try:
                holders.append(f"{conn.pid} {' '.join(psutil.Process(conn.pid).cmdline())}")
            except (psutil.Error, TypeError, ValueError):
                holders.append(str(conn.pid))
    return holders


def log_tail(path: Path, lines: int = 20) -> str:
    """The last `lines` lines of a log file, reading only its end."""
    if lines <= 0:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            block = min(size, max(4096, lines * 400))
            while True:
                f.seek(size - block)
                data = f.read(block)
                if data.count(b"\n") > lines or block == size:
                    break
                block = min(size, block * 2)
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])
