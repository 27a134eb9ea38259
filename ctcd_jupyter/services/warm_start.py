"""Model servers started from the warm process (warm_process.py): ~0.2 s instead of ~2.5 s.

`launch` asks the warm process for this interpreter, this environment and this code to fork a
server. When there is none (the first server after a boot, a quarter of an hour unused, an
upgrade) or it cannot answer, `launch` returns None and the caller starts a new interpreter as
before; `prepare` then starts a warm process in the background, for the next server. A server
started either way is the same: same process model (a log runner leading its session, the
server its child), same log, same supervision.

Settings (environment): CTCD_WARM_START=0 turns it off; CTCD_WARM_DIR is where the sockets live
(default: the user's runtime folder); CTCD_WARM_IDLE how many seconds an unused warm process
stays (900).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import psutil

from . import process
from .process import ServiceProcess

__all__ = ["enabled", "launch", "prepare", "processes", "stop"]

# the model server, a program of its own run by path (model_server/serve.py says why)
SERVE = Path(__file__).resolve().parent.parent / "model_server" / "serve.py"
# what a forked server calls back into (server_kinds.SERVER_HOOKS), imported before the fork
_PRELOAD = ("ctcd_jupyter.services.serving_history", "ctcd_jupyter.services.transaction")
_FINGERPRINTED = ("mlflow", "uvicorn", "sklearn")  # upgraded -> another warm process
_SPAWN = ("import os, subprocess, sys; os.umask(0o077); "
          "subprocess.Popen(sys.argv[2:], start_new_session=True, "
          "stdin=subprocess.DEVNULL, stdout=open(sys.argv[1], 'ab'), stderr=subprocess.STDOUT,"
          " close_fds=True, cwd='/')")


def enabled() -> bool:
    return os.environ.get("CTCD_WARM_START", "1").strip().lower() not in ("0", "false", "no",
                                                                          "off")


def launch(folder: Path, *, log_path: Path, env: Mapping[str, str], log_max_bytes: int,
           log_backups: int = process.DEFAULT_LOG_BACKUPS,
           timeout: float = 5.0) -> ServiceProcess | None:
    """A model server for `folder` forked by the warm process, or None (start it cold)."""
    where = _socket(env)
    if where is None:
        return None
    request = {"folder": str(folder), "env": dict(env), "cwd": os.getcwd(), "umask": _umask(),
               "log": [str(log_path), str(int(log_max_bytes)), str(int(log_backups))]}
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(where))
            conn.sendall(json.dumps(request).encode() + b"\n")
            reply = _line(conn)
    except OSError:
        return None
    pids = reply.split()
    if len(pids) != 2 or not all(p.isdigit() for p in pids):
        return None  # "error ...": the cold path will say what is wrong, if anything is
    return process.adopt(int(pids[0]), int(pids[1]))


def prepare(env: Mapping[str, str]) -> None:
    """Start the warm process for `env` in the background, unless one is there or starting
    (it holds `<socket>.lock` for its whole life; a socket file without it is stale)."""
    where = _socket(env)
    if where is None or _alive(where):
        return
    idle = os.environ.get("CTCD_WARM_IDLE", "900")
    # the last argument is room: a forked server writes its own command line over these
    command = [sys.executable, "-u", str(SERVE), "--warm", str(where), idle,
               str(process.RUNNER), ",".join(_PRELOAD), " " * 256]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        # through a short-lived parent: the warm process is nobody's child here (no zombie)
        subprocess.run([sys.executable, "-S", "-c", _SPAWN, str(where.with_suffix(".log")),
                        *command], env=dict(env), timeout=10, check=False,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


def stop(timeout: float = 10.0) -> int:
    """Ask every warm process in this user's warm folder to exit, and wait until they have;
    how many there were."""
    folder = _folder()
    stopped = []
    for where in sorted(folder.glob("w-*.sock")) if folder else ():
        pid = _pid(where)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(5.0)
                conn.connect(str(where))
                conn.sendall(b'{"stop": true}\n')
                if _line(conn) == "ok" and pid:
                    stopped.append(pid)
        except OSError:
            continue
    deadline = time.monotonic() + timeout
    for pid in stopped:
        while psutil.pid_exists(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
    return len(stopped)


def processes() -> list[dict]:
    """The live warm processes of this user's warm folder: pid, socket, resident MiB."""
    folder = _folder()
    found = []
    for where in sorted(folder.glob("w-*.sock")) if folder else ():
        pid = _pid(where)
        if pid is None or not _alive(where):
            continue
        with contextlib.suppress(psutil.Error):
            found.append({"pid": pid, "socket": str(where),
                          "rss_mib": psutil.Process(pid).memory_info().rss / 2**20})
    return found


def _alive(where: Path) -> bool:
    """Whether a warm process holds the lock of `where` (ready, or still preloading)."""
    try:
        fd = os.open(f"{where}.lock", os.O_RDWR)
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: do not start a second one
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # also drops the lock, if this process got it
    return False


def _pid(where: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(Path(f"{where}.lock").read_text().split()[0])
    return None


def _umask() -> int | None:
    """This process's umask, which a server it launched itself would inherit (read, not set
    and restored: that would race with other threads)."""
    with contextlib.suppress(OSError, ValueError, StopIteration):
        status = Path("/proc/self/status").read_text().splitlines()
        return int(next(x for x in status if x.startswith("Umask:")).split()[1], 8)
    return None


def _line(conn: socket.socket) -> str:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def _socket(env: Mapping[str, str]) -> Path | None:
    """Where the warm process for this interpreter, import path and code listens; None when
    warm starts are off or the folder is not safely ours."""
    if not enabled():
        return None
    folder = _folder()
    if folder is None:
        return None
    key = hashlib.sha256(json.dumps([sys.executable, env.get("PYTHONPATH", ""),
                                     _fingerprint()]).encode()).hexdigest()[:16]
    return folder / f"w-{key}.sock"


def _folder() -> Path | None:
    base = os.environ.get("CTCD_WARM_DIR")
    if base:
        folder = Path(base)
    elif os.environ.get("XDG_RUNTIME_DIR"):
        folder = Path(os.environ["XDG_RUNTIME_DIR"]) / "ctcd"
    else:
        folder = Path(tempfile.gettempdir()) / f"ctcd-warm-{os.getuid()}"
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = folder.stat()
    except OSError:
        return None
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        return None  # someone else's folder, or open to others: no socket of ours goes there
    return folder


def _fingerprint() -> list:
    """What the warm process preloaded: this package's code and the packages it imports."""
    here = Path(__file__).parent.parent
    marks: list = []
    for path in sorted(here.rglob("*.py")):
        with contextlib.suppress(OSError):
            info = path.stat()
            marks.append([path.name, info.st_mtime_ns, info.st_size])
    for name in _FINGERPRINTED:
        with contextlib.suppress(ImportError, ValueError):
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.origin:
                marks.append([name, os.stat(spec.origin).st_mtime_ns])
    return marks
