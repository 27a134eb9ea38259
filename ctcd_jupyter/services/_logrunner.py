"""Run a command with its output in a size-capped, rotated log file (stdlib only).

Started by `process.launch` in a new session, so it leads the service's process group. It starts
the command with stdout/stderr on a pipe, writes the command's pid as one line to its own stdout,
copies the pipe to the log line by line with secrets masked (`ctcd_jupyter/redact.py`: URI
passwords, and the values of the environment variables named in CTCD_LOG_MASK), dropping and
later noting what a full disk refuses, notes the command's exit code there, and exits once every
writer has closed the pipe. It ignores TERM and INT so that the service's last words reach the
log.

With CTCD_LIFELINE=PATH (a FIFO that a foreground `ctcd serve` holds open) the command lives
only as long as whoever holds the FIFO: once its last writer is gone (the holder exited, even by
kill -9), the command gets TERM (a graceful drain), then KILL after GRACE seconds. This process
is the command's parent on every path (launched cold or forked by the warm process), so it is the
one watcher whatever the process tree above it.
Usage: python -S _logrunner.py LOG_PATH MAX_BYTES BACKUPS -- COMMAND [ARG ...]
   or: python -S _logrunner.py LOG_PATH MAX_BYTES BACKUPS --adopt PID FD
The second form is exec'd by the warm process (warm_process.py) in a session it made, after
forking the command itself: PID is that command, already this process's child; FD the read end
of its output pipe.
"""

import contextlib
import importlib.util
import os
import select
import signal
import subprocess
import sys
import threading

MARK = "[ctcd] command exited with code "
LIFELINE_ENV = "CTCD_LIFELINE"
MASK_ENV = "CTCD_LOG_MASK"
GRACE = 15.0  # the server drains for up to 10 s (uvicorn's graceful shutdown)
_LINE_LIMIT = 65536  # a longer line is written in pieces
_FLUSH_AFTER = 0.5  # a partial line (no newline yet) waits this long at most


def _redactor():
    """`bytes -> bytes` masking secrets, from ctcd_jupyter/model_server/redact.py loaded by
    path (this program imports nothing of the package); identity when it cannot be loaded."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                        "model_server", "redact.py")
    try:
        spec = importlib.util.spec_from_file_location("_ctcd_redact", path)
        redact = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(redact)
    except Exception:
        return lambda data: data
    names = [n for n in os.environ.get(MASK_ENV, "").split(",") if n]
    secrets = [os.environ[n] for n in names if os.environ.get(n)]

    def mask(data):
        text = data.decode("utf-8", "surrogateescape")
        masked = redact.values(text, secrets)
        return data if masked == text else masked.encode("utf-8", "surrogateescape")

    return mask


class Log:
    def __init__(self, path, max_bytes, backups):
        self.path, self.max_bytes, self.backups = path, max_bytes, backups
        self.lock = threading.Lock()
        self.dropped, self.why = 0, ""
        self.fd = self._open()
        self.size = os.fstat(self.fd).st_size

    def _open(self):
        return os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def write(self, data):
        # A full or read-only disk must not end the service: its output is dropped (and the
        # loss noted once writing works again), but the pipe keeps being drained.
        with self.lock:
            try:
                if self.dropped:
                    note = f"[ctcd] {self.dropped} bytes of output were lost: {self.why}\n"
                    self._write(note.encode())
                    self.dropped = 0
                self._write(data)
            except OSError as exc:
                self.dropped += len(data)
                self.why = exc.strerror or str(exc)

    def _write(self, data):
        if self.fd is None:
            self.fd = self._open()
            self.size = os.fstat(self.fd).st_size
        if self.size and self.size + len(data) > self.max_bytes:
            os.close(self.fd)
            self.fd = None
            self._rotate()
            self.fd = self._open()
            self.size = 0
        os.write(self.fd, data)
        self.size += len(data)

    def _rotate(self):
        for i in range(self.backups - 1, 0, -1):
            if os.path.exists(f"{self.path}.{i}"):
                os.replace(f"{self.path}.{i}", f"{self.path}.{i + 1}")
        if self.backups > 0:
            os.replace(self.path, f"{self.path}.1")
        else:
            os.truncate(self.path, 0)


def main():
    path, max_bytes, backups = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    log = Log(path, max_bytes, backups)
    if sys.argv[4] == "--adopt":
        pid, read_end = int(sys.argv[5]), int(sys.argv[6])

        def wait():
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

        return pump(log, read_end, wait, pid)
    command = sys.argv[sys.argv.index("--") + 1:]
    read_end, write_end = os.pipe()
    try:
        # The command gets default signal handling back (ignored signals would be inherited).
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=write_end,
                                 stderr=write_end, close_fds=True, restore_signals=True,
                                 preexec_fn=_default_signals)
    except OSError as exc:
        log.write(f"[ctcd] cannot start {command[0]!r}: {exc}\n".encode())
        sys.stdout.write(f"error {exc}\n")
        sys.stdout.flush()
        return 127
    os.close(write_end)
    sys.stdout.write(f"{child.pid}\n")
    sys.stdout.flush()
    os.close(1)
    return pump(log, read_end, child.wait, child.pid)


def pump(log, read_end, wait, pid):
    """Copy the pipe to the log until every writer closed it; note the exit code `wait` gives."""
    exited = threading.Event()
    mask = _redactor()

    def reap():
        code = wait()
        exited.set()
        log.write(f"{MARK}{code}\n".encode())

    reaper = threading.Thread(target=reap)
    reaper.start()
    lifeline = os.environ.get(LIFELINE_ENV)
    if lifeline:
        threading.Thread(target=watch, args=(lifeline, pid, exited, log), daemon=True).start()
    pending = b""
    while True:
        if pending and not select.select([read_end], [], [], _FLUSH_AFTER)[0]:
            log.write(mask(pending))  # a partial line that stays partial: write it anyway
            pending = b""
        try:
            chunk = os.read(read_end, 65536)
        except InterruptedError:
            continue
        if not chunk:
            break
        # whole lines only, so that a secret is never split across two writes
        pending += chunk
        cut = pending.rfind(b"\n") + 1
        if cut == 0 and len(pending) >= _LINE_LIMIT:
            cut = len(pending)
        if cut:
            log.write(mask(pending[:cut]))
            pending = pending[cut:]
    if pending:
        log.write(mask(pending))
    reaper.join()
    return 0


def watch(path, pid, exited, log):
    """Stop the command once nobody holds the lifeline FIFO at `path` open for writing."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        os.set_blocking(fd, True)
        while os.read(fd, 64):  # EOF: the last writer is gone
            pass
    except OSError as exc:
        log.write(f"[ctcd] lifeline {path}: {exc}\n".encode())
    if exited.is_set():
        return
    log.write(b"[ctcd] the foreground command that runs this service is gone: stopping it\n")
    _signal(pid, signal.SIGTERM)
    if not exited.wait(GRACE):
        log.write(f"[ctcd] still running after {GRACE:g} s: killed\n".encode())
        _signal(pid, signal.SIGKILL)


def _signal(pid, sig):
    with contextlib.suppress(OSError):
        os.kill(pid, sig)


def _default_signals():
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
