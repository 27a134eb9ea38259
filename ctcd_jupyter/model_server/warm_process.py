"""The warm process: a model server interpreter kept ready, that forks servers on request.

A new model server spends ~2.3 s of its ~2.5 s boot importing mlflow and the model's flavor
(sklearn, scipy). This process imports them once (`PRELOAD`), then waits on a Unix socket;
asked for a server, it forks, and the fork serves in ~0.1 s with everything already in memory
(copy-on-write, so the pages are shared until written). It is what `gunicorn --preload` does for
its workers, for whole services.

The process model is the one `process.launch` makes: for each request a child starts a new
session, forks the server in it with its output on a pipe, and then execs the log runner
(`_logrunner.py --adopt`), which leads the session, is the server's parent, copies the pipe to
the capped log and notes the exit code. The requester gets "RUNNER_PID SERVER_PID" back and
records them as if it had launched them. The warm process itself is no part of any service: it
can exit at any time (idle for `idle` seconds, its socket replaced, `stop`), and a service
never notices.

Only its own user may ask (the socket's folder is 0700 and the peer's uid is checked), and it
only ever runs the model server (`server.main`) on a service folder.

Stdlib only at import; run as `python serve.py --warm SOCKET` (the `ctcd_model_server`
package over this folder, see serve.py). Single-threaded, so that forking it is safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import select
import signal
import socket
import struct
import sys
import time
import traceback

__all__ = ["PRELOAD", "serve"]

# What every model server imports to boot; flavors that are not installed are skipped.
PRELOAD = ("mlflow.pyfunc.scoring_server", "mlflow.models", "uvicorn", "uvicorn.config",
           "uvicorn.main", "mlflow.sklearn", "sklearn.linear_model", "sklearn.ensemble",
           "sklearn.pipeline", "sklearn.preprocessing")
# The log runner each forked server is adopted by (services/_logrunner.py, given by the caller:
# this program knows no file of the package).
RUNNER = ""
REQUEST_LIMIT = 1 << 20


def serve(path: str, *, idle: float = 900.0, runner: str, preload: tuple[str, ...] = PRELOAD,
          ) -> int:
    """Preload (PRELOAD and the modules the caller adds), then fork a server for each request on
    the socket at `path` until idle; `runner` is the log runner that adopts each server."""
    global RUNNER
    RUNNER = runner
    lock = os.open(path + ".lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another warm process serves this socket
    for name in preload:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o077)
    try:
        listener.bind(path)
    finally:
        os.umask(old_umask)
    listener.listen(16)
    mine = os.stat(path).st_ino
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())
    print(f"[ctcd] warm model server process {os.getpid()} ready on {path}", flush=True)
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle:
            _reap()
            try:
                if os.stat(path).st_ino != mine:
                    break  # replaced: the newer one serves
            except FileNotFoundError:
                break  # removed: asked to go
            if not select.select([listener], [], [], 1.0)[0]:
                continue
            conn, _ = listener.accept()
            last = time.monotonic()
            with conn:
                if _answer(conn, (listener.fileno(), lock)) == "stop":
                    break
    finally:
        with contextlib.suppress(OSError):
            if os.stat(path).st_ino == mine:
                os.unlink(path)
        listener.close()
    return 0


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def _answer(conn: socket.socket, own: tuple[int, int]) -> str | None:
    """Answer one request; `own`: this process's listening socket and lock, which no server
    may keep open (a server holding the lock would make this process look alive forever)."""
    conn.settimeout(5.0)
    try:
        uid = struct.unpack("3i", conn.getsockopt(
            socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))[1]
        if uid != os.getuid():
            conn.sendall(b"error only this user may ask\n")
            return None
        data = b""
        while not data.endswith(b"\n") and len(data) < REQUEST_LIMIT:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        request = json.loads(data)
        if request.get("stop"):
            conn.sendall(b"ok\n")
            return "stop"
        folder, log = str(request["folder"]), [str(x) for x in request["log"]]
        env, cwd = dict(request["env"]), request.get("cwd")
        umask = None if request.get("umask") is None else int(request["umask"]) & 0o777
    except (OSError, ValueError, KeyError, TypeError) as exc:
        with contextlib.suppress(OSError):
            conn.sendall(f"error bad request: {exc}\n".encode())
        return None
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() == 0:
        _runner(conn, own, folder, log, env, cwd, umask)  # never returns
    return None


def _runner(conn: socket.socket, own: tuple[int, int], folder: str, log: list[str],
            env: dict[str, str], cwd: str | None, umask: int | None) -> None:
    """In the fork: lead a new session, fork the server, become the log runner."""
    server = 0
    try:
        for fd in own:
            os.close(fd)
        os.setsid()
        read_end, write_end = os.pipe()
        server = os.fork()
        if server == 0:
            conn.close()
            os.close(read_end)
            _server(write_end, folder, env, cwd, umask)  # never returns
        os.close(write_end)
        conn.sendall(f"{os.getpid()} {server}\n".encode())
        conn.close()
        os.set_inheritable(read_end, True)
        # the service's environment, as a runner launched cold has it (CTCD_LIFELINE, ...)
        os.execve(sys.executable, [sys.executable, "-S", "-u", RUNNER, *log, "--adopt",
                                   str(server), str(read_end)], env)
    except BaseException as exc:  # the fork must never return into the loop
        if server:  # nobody learnt of it, so nobody would stop it
            with contextlib.suppress(OSError):
                os.kill(server, signal.SIGKILL)
        with contextlib.suppress(Exception):
            conn.sendall(f"error {type(exc).__name__}: {exc}\n".encode())
    finally:
        os._exit(127)


def _server(output: int, folder: str, env: dict[str, str], cwd: str | None,
            umask: int | None) -> None:
    """In the fork's fork: become the model server for `folder`, as a new process would."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(null)
        os.close(output)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        if cwd:
            os.chdir(cwd)
        if umask is not None:
            os.umask(umask)
        os.environ.clear()
        os.environ.update(env)
        time.tzset()  # TZ may differ from this process's
        package = __name__.rpartition(".")[0]
        serve_file = os.path.join(os.path.dirname(os.path.abspath(__file__)), "serve.py")
        sys.argv = [serve_file, folder]
        _retitle([sys.executable, serve_file, folder])
        main = importlib.import_module(f"{package}.server").main
        code = main([folder]) or 0
    except SystemExit as exc:
        if isinstance(exc.code, int):
            code = exc.code
        else:
            code = 0 if exc.code is None else 1
            if exc.code is not None:
                print(exc.code, file=sys.stderr)
    except BaseException:  # reported as an uncaught exception would be
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _retitle(args: list[str]) -> None:
    """Show `args` as this process's command line (`ps`, /proc/PID/cmdline): a forked server
    then reads as what it is, `python .../serve.py FOLDER`, not as the warm process it came
    from. Written over the argument area in place (Linux), when it fits; else left as is."""
    with contextlib.suppress(Exception):
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (proc(5))
        data = "\0".join(args).encode() + b"\0"
        if len(data) <= end - start:
            with open("/proc/self/mem", "r+b", buffering=0) as mem:
                mem.seek(start)
                mem.write(data + b"\0" * (end - start - len(data)))
