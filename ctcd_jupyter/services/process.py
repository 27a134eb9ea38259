"""The one wrapper around launching, identifying and killing service processes.

A service runs in its own session (a kernel interrupt or restart never reaches it). Its output
goes through a small log writer that caps the log file; the writer leads the process group, so
stopping the group stops everything the service spawned. Every signal is sent only after the
target's identity (pid + start time + command line) matches what was recorded at launch.
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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

__all__ = [
    "Liveness",
    "ProcessRecord",
    "ServiceProcess",
    "free_port",
    "group_members",
    "kill_group",
    "launch",
    "liveness",
    "log_tail",
    "port_is_free",
    "wait_port_free",
]

RUNNER = Path(__file__).with_name("_logrunner.py")
EXIT_MARK = "[ctcd] command exited with code "
DEFAULT_LOG_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_LOG_BACKUPS = 2
# psutil derives start times from jiffies since boot: equal processes agree to a few ms.
_CREATE_TIME_SLACK = 0.05

Clock = Callable[[], float]


@dataclass(frozen=True)
class ProcessRecord:
    """Who a process is: enough to tell it from a later process that reused its pid."""

    pid: int
    create_time: float
    cmdline: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cmdline": list(self.cmdline)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(int(data["pid"]), float(data["create_time"]), tuple(data["cmdline"]))


@dataclass(frozen=True)
class ServiceProcess:
    """A launched service: the log writer leading the group (`leader`) and the command (`main`)."""

    leader: ProcessRecord
    main: ProcessRecord

    @property
    def pgid(self) -> int:
        return self.leader.pid

    def to_dict(self) -> dict[str, Any]:
        return {"leader": self.leader.to_dict(), "main": self.main.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ServiceProcess:
        return cls(ProcessRecord.from_dict(data["leader"]), ProcessRecord.from_dict(data["main"]))


class Liveness:
    """What became of a recorded process."""

    ALIVE = "alive"  # the very process we launched is running
    GONE = "gone"  # it exited (a zombie counts as exited)
    STALE = "stale"  # its pid now belongs to an unrelated process: never signal it


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
    return ServiceProcess(_identify(runner.pid), _identify(int(line), fallback=argv))


def _read_line(stream: Any, deadline: float) -> str:
    fd = stream.fileno()
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
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
        return ProcessRecord(pid, proc.create_time(), _cmdline(proc))
    except psutil.Error:  # already gone: keep what we know, it will read as GONE
        return ProcessRecord(pid, time.time(), tuple(fallback))


def _cmdline(proc: psutil.Process) -> tuple[str, ...]:
    # /proc/PID/cmdline reads empty for a moment around exec: look again briefly.
    deadline = time.monotonic() + 0.2
    while True:
        cmdline = tuple(proc.cmdline())
        if cmdline or time.monotonic() >= deadline:
            return cmdline
        time.sleep(0.01)


def _matches(proc: psutil.Process, record: ProcessRecord) -> bool:
    if abs(proc.create_time() - record.create_time) > _CREATE_TIME_SLACK:
        return False
    return not record.cmdline or _cmdline(proc) == record.cmdline


def liveness(record: ProcessRecord) -> str:
    """ALIVE, GONE or STALE, judged by pid, start time and command line."""
    _reap()
    try:
        proc = psutil.Process(record.pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return Liveness.GONE
        return Liveness.ALIVE if _matches(proc, record) else Liveness.STALE
    except psutil.NoSuchProcess:
        return Liveness.GONE
    except psutil.AccessDenied:
        return Liveness.STALE


def group_members(sp: ServiceProcess) -> list[psutil.Process]:
    """Live processes of the service's group, or [] when its leader's pid was reused.

    Linux never hands out a pid while a process group of that number exists, so members of the
    recorded group that started no earlier than the leader are ours.
    """
    if liveness(sp.leader) == Liveness.STALE:
        return []
    members = []
    for proc in psutil.process_iter(["pid", "create_time", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if proc.info["create_time"] < sp.leader.create_time - _CREATE_TIME_SLACK:
                continue
            if os.getpgid(proc.pid) == sp.pgid:
                members.append(proc)
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
    return members


def _signal_all(procs: list[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.Error):  # psutil refuses a pid reused meanwhile
            proc.send_signal(sig)


def kill_group(sp: ServiceProcess, *, timeout: float, force: bool = False,
               clock: Clock = time.monotonic) -> list[int]:
    """TERM the service's group (KILL at once when `force`), KILL what is left after `timeout`.

    Returns the pids that had to be killed; raises nothing for processes already gone.
    """
    members = group_members(sp)
    if not members:
        return []
    _signal_all(members, signal.SIGKILL if force else signal.SIGTERM)
    alive = _wait_gone(members, clock() + (0 if force else timeout), clock)
    killed = [p.pid for p in alive]
    if alive:
        _signal_all(alive, signal.SIGKILL)
        alive = _wait_gone(alive, clock() + 5.0, clock)
    # Workers orphaned earlier, or spawned while we were signalling, are still in the group.
    stragglers = group_members(sp)
    if stragglers:
        killed += [p.pid for p in stragglers]
        _signal_all(stragglers, signal.SIGKILL)
        _wait_gone(stragglers, clock() + 5.0, clock)
    _reap()
    return killed


def _wait_gone(procs: list[psutil.Process], deadline: float, clock: Clock) -> list[psutil.Process]:
    alive = list(procs)
    while alive:
        _reap()
        alive = [p for p in alive if _running(p)]
        if not alive or clock() >= deadline:
            break
        time.sleep(0.02)
    return alive


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


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


def wait_port_free(host: str, port: int, deadline: float, clock: Clock = time.monotonic) -> bool:
    while not port_is_free(host, port):
        if clock() >= deadline:
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
