"""`LocalDaemonService`: a command run as a detached local process, found again after restarts.

It runs in its own session with a capped log file under `<state>/services/<name>/`, is recognised
by pid + start time + the session recorded at launch (see `process`), and is stopped as a whole:
every process of it that can be proven ours, never a number taken on trust.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from .. import identity
from ..errors import PortInUseError, ServiceStartError, ServiceStopError
from ..model_server import redact
from . import process
from .base import BaseService, ServiceState
from .kinds import register_kind
from .process import LIFELINE_ENV, MASK_ENV, Liveness, ServiceProcess
from .records import (
    COMMAND,
    OPTIONAL_INT,
    OPTIONAL_TEXT,
    PORT,
    PORT_OR_PICK,
    POSITIVE_INT,
    STRING_MAP,
    TEXT,
    Field,
    Record,
    check_fields,
)

__all__ = ["LocalDaemonService"]

LOG_NAME = "service.log"
TWIN_LOG = "service.b.log"  # a handed-over process logs here, the next one to service.log
LIFELINE_NAME = "lifeline"
# Sent with ctcd's own health checks, so that the server keeps them out of its access log
# (a user's own GET /ping still shows).
PROBE_HEADERS = {"X-Ctcd-Probe": "1", "User-Agent": "ctcd"}


@register_kind("local_daemon")
class LocalDaemonService(BaseService):
    """Run `command` as a daemon that outlives this Python process.

    `command` may contain `{port}` and `{host}`; `port=0` picks a free port at each start, and
    so does `port=None` when the command has `{port}`; otherwise `port=None` means the service
    has no port. With `health_path` the service is healthy when
    GET that path answers 2xx; with only a port, when the port accepts connections; otherwise
    while the process runs.
    """

    config_fields: ClassVar[dict[str, Field]] = {
        "command": COMMAND._replace(required=False), "port": PORT_OR_PICK,
        "host": TEXT._replace(required=False), "health_path": OPTIONAL_TEXT,
        "env": STRING_MAP, "cwd": OPTIONAL_TEXT,
        "log_max_bytes": POSITIVE_INT}
    runtime_fields: ClassVar[dict[str, Field]] = {
        **BaseService.runtime_fields, "port": PORT, "returncode": OPTIONAL_INT,
        "log_path": OPTIONAL_TEXT}

    @classmethod
    def check_record(cls, config: dict[str, Any], runtime: dict[str, Any]) -> None:
        if cls._command is LocalDaemonService._command:  # a subclass may build its own command
            check_fields(config, {"command": COMMAND}, "config")
        super().check_record(config, runtime)
        if runtime.get("process") is not None:
            try:
                ServiceProcess.from_dict(runtime["process"])
            except ValueError as exc:
                raise ValueError(f"runtime.{exc}") from None

    def __init__(self, name: str, command: Sequence[str], *, port: int | None = None,
                 host: str = "127.0.0.1", health_path: str | None = None,
                 env: Mapping[str, str] | None = None, cwd: str | os.PathLike | None = None,
                 log_max_bytes: int = process.DEFAULT_LOG_MAX_BYTES,
                 home: str | Path | None = None, **kwargs: Any):
        if port is None and any("{port}" in str(c) for c in command):
            port = 0  # the command wants a port: "{port}" must never become "None"
        super().__init__(name, home=home, command=[str(c) for c in command], port=port,
                         host=host, health_path=health_path, env=dict(env or {}),
                         cwd=None if cwd is None else str(cwd), log_max_bytes=log_max_bytes,
                         **kwargs)

    # -- what subclasses may change ------------------------------------------------------------
    def _command(self, host: str, port: int | None) -> list[str]:
        return [c.format(port=port, host=host) for c in self.config["command"]]

    def _env(self, host: str, port: int | None) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        env.pop(LIFELINE_ENV, None)
        env.update(self.config.get("env") or {})
        # the log runner masks these values in the log (the names of what the user gave)
        env[MASK_ENV] = ",".join(sorted(self.config.get("env") or {}))
        lifeline = self.__dict__.get("_lifeline")
        if lifeline:
            env[LIFELINE_ENV] = lifeline
        return env

    # -- the foreground -----------------------------------------------------------------------
    @contextlib.contextmanager
    def foreground(self) -> Iterator[LocalDaemonService]:
        """Tie what `start()` launches in this block to this process's life: the service's log
        runner watches a FIFO this process holds open, and stops the service (TERM, a bounded
        drain, then KILL) once nobody holds it: this process exited, however (kill -9 too).
        Leaving the block closes it. A service already running when `start()` is called was
        launched without it and keeps running (`bound` says which)."""
        path = self.folder / LIFELINE_NAME
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.mkfifo(path, 0o600)
        fd = os.open(path, os.O_RDWR)  # a writer for as long as we live; not inherited
        self.__dict__["_lifeline"] = str(path)
        try:
            yield self
        finally:
            self.__dict__.pop("_lifeline", None)
            os.close(fd)

    @property
    def bound(self) -> bool:
        """Whether the running process lives only as long as this process (`foreground`)."""
        self._fresh()
        owner = (self._runtime.get("foreground") or {}).get("owner")
        return bool(owner) and owner.get("pid") == os.getpid() and self._running()

    def _owner_gone(self) -> bool:
        """Whether the foreground command the process was tied to has exited."""
        owner = (self._runtime.get("foreground") or {}).get("owner")
        if not owner:
            return False
        try:
            return identity.liveness(identity.ProcessIdentity.from_dict(owner)) \
                is not Liveness.ALIVE
        except ValueError:
            return False

    # -- addresses ----------------------------------------------------------------------------
    @property
    def host(self) -> str:
        return self.config.get("host") or "127.0.0.1"

    @property
    def port(self) -> int | None:
        self._fresh()
        return self._port()

    def _port(self) -> int | None:
        port = self._runtime.get("port") or self.config.get("port")
        return int(port) if port else None

    @property
    def base_url(self) -> str | None:
        self._fresh()
        return self._base_url()

    def _base_url(self) -> str | None:
        port = self._port()
        if not port:
            return None
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{port}"

    @property
    def endpoint(self) -> str | None:
        self._fresh()
        return self._endpoint()

    def _endpoint(self) -> str | None:
        return self._base_url()

    @property
    def log_path(self) -> Path:
        """The log of the running process (a model swap alternates between two files)."""
        recorded = self._runtime.get("log_path")
        return Path(recorded) if recorded else self.folder / LOG_NAME

    @property
    def _process(self) -> ServiceProcess | None:
        data = self._runtime.get("process")
        return ServiceProcess.from_dict(data) if data else None

    @property
    def pid(self) -> int | None:
        self._fresh()
        sp = self._process
        return sp.main.pid if sp else None

    # -- hooks --------------------------------------------------------------------------------
    def _pick_port(self) -> int:
        """The port for a start with `port=0` (subclasses may prefer the one used before)."""
        return process.free_port(self.host)

    def _launch(self, deadline: float) -> None:
        wanted_port = self.config.get("port")
        if wanted_port:
            port: int | None = int(wanted_port)
            if not process.port_is_free(self.host, port):
                holders = process.port_holders(port)
                raise PortInUseError(
                    f"port {port} on {self.host} is already in use"
                    + (f" (by {'; '.join(holders)})" if holders else "")
                    + f"; stop that process or start {self._name!r} with another port",
                    service=self._name, port=port)
        elif wanted_port == 0:
            port = self._pick_port()
        else:
            port = None
        self.__dict__.pop("_unregistered_failure", None)  # registered again by this start
        lifeline = self.__dict__.get("_lifeline")
        self._runtime.update(port=port, process=None, returncode=None,
                             log_path=str(self.log_path), foreground={
                                 "lifeline": lifeline,
                                 "owner": identity.ProcessIdentity.of(os.getpid()).to_dict()}
                             if lifeline else None)
        command = self._command(self.host, port)
        try:
            sp = self._spawn(command, self._env(self.host, port),
                             int(self.config.get("log_max_bytes")
                                 or process.DEFAULT_LOG_MAX_BYTES))
        except OSError as exc:
            raise ServiceStartError(f"service {self._name!r}: {exc}", service=self._name,
                                    log_tail=self.logs(tail=5), returncode=127) from exc
        self._runtime["process"] = sp.to_dict()

    def _spawn(self, command: list[str], env: dict[str, str],
               log_max_bytes: int) -> ServiceProcess:
        """Start `command` under its log runner (subclasses may start it another way)."""
        return process.launch(command, log_path=self.log_path, env=env,
                              cwd=self.config.get("cwd"), log_max_bytes=log_max_bytes)

    def _register(self) -> None:
        existed = self._records.get(self._name) is not None
        super()._register()
        # this object made the record: its first start may take it back (_abort_start)
        self.__dict__["_made_record"] = not existed

    def _abort_start(self, exc: BaseException) -> None:
        """A first start that never became healthy leaves no service behind when this object
        made the record (`ctcd serve notauri`, `MLFlowDeploymentService(...).start()` on a
        typo'd alias): a typo must not stay listed as a broken service that can only be
        deleted. The folder keeps its log; this object keeps the error (status ERROR), and a
        later `start()` registers it again. A service that served before, or that was made
        elsewhere and is started from a list (a panel, `ctcd services start`), keeps its
        record, in ERROR, with the reason."""
        super()._abort_start(exc)
        if self._runtime.get("healthy_after") is None and self._attached \
                and self.__dict__.get("_made_record"):
            error = self._runtime.get("last_error")
            if self._records.delete(self._name, self._uuid):
                self._attached = False
                self._runtime.update(process=None, last_error=error)
                self.__dict__["_unregistered_failure"] = True

    def check(self) -> ServiceState:
        if not self._attached and self.__dict__.get("_unregistered_failure"):
            return ServiceState.ERROR  # this object's own failed first start
        return super().check()

    def _startup_failure(self) -> ServiceStartError | None:
        sp = self._process
        if sp is None:
            return ServiceStartError(f"service {self._name!r} has no process", service=self._name)
        if process.liveness(sp.main, sp.sid) == Liveness.ALIVE:
            return None
        # Let the log writer drain the pipe so the tail holds the last words.
        self._wait_group_exit(sp, self._monotonic() + 2.0)
        rc = process.exit_code_in_log(self.log_path)
        tail = self.logs(tail=30)
        return ServiceStartError(
            f"service {self._name!r} exited"
            + (f" with code {rc}" if rc is not None else "")
            + " before it became healthy; last log lines:\n" + tail,
            service=self._name, log_tail=tail, returncode=rc)

    def _wait_group_exit(self, sp: ServiceProcess, deadline: float) -> None:
        while (process.liveness(sp.leader, sp.sid) == Liveness.ALIVE
               and self._monotonic() < deadline):
            time.sleep(0.02)

    def _observe(self) -> tuple[ServiceState, str | None]:
        sp = self._process
        current = ServiceState(self._runtime["status"])
        if sp is None:
            if current is ServiceState.ERROR:
                return ServiceState.ERROR, None
            return ServiceState.INACTIVE, None
        life = process.liveness(sp.main, sp.sid)
        if life == Liveness.ALIVE:
            self._remember_members(sp)
            if self.health_check():
                return ServiceState.ACTIVE, None
            life = process.liveness(sp.main, sp.sid)  # it may have died while we asked
        if life == Liveness.ALIVE:
            if current in (ServiceState.PENDING_STARTUP, ServiceState.PENDING_SHUTDOWN):
                return current, None
            return ServiceState.ERROR, f"process {sp.main.pid} runs but fails its health check"
        if life == Liveness.STALE:
            error = (f"stale record: pid {sp.main.pid} now belongs to an unrelated process, "
                     "which was not signalled")
        else:
            rc = process.exit_code_in_log(self.log_path)
            code = f" with code {rc}" if rc is not None else ""
            error = f"process {sp.main.pid} exited{code}"
        # The command is gone; what else of it still runs (workers of a killed master)?
        found = process.members(sp)
        left = found.pids(without=[sp.leader.pid])
        if life == Liveness.GONE and self._owner_gone():
            # it ran in the foreground, and stopped with the command that ran it
            self._runtime.update(wanted=ServiceState.INACTIVE.value, foreground=None)
        wanted = self._runtime.get("wanted") == ServiceState.ACTIVE.value
        notes = []
        if left and wanted:
            # Unsupervised leftovers would keep serving (and hold the port): reap them.
            process.kill_group(sp, timeout=2.0, force=False, monotonic=self._monotonic)
            notes.append(f"reaped {len(left)} process(es) it left running "
                         f"(pids {', '.join(map(str, left))})")
        elif left:
            notes.append(f"{len(left)} process(es) it started are still running (pids "
                         f"{', '.join(map(str, left))}); stop the service to end them")
        if found.unproven:
            notes.append(f"pids {', '.join(map(str, found.unproven))} are in its recorded "
                         "session but cannot be proven to be ours, so they were not signalled")
        if not left and not found.unproven:
            if life == Liveness.STALE:
                self._runtime["process"] = None
            elif not wanted:
                return ServiceState.INACTIVE, None
        if notes:
            error += "; " + "; ".join(notes)
        if life == Liveness.GONE:
            error += f"; last log lines:\n{self.logs(tail=10)}"
        return ServiceState.ERROR, error

    def _remember_members(self, sp: ServiceProcess) -> None:
        """Record the processes the service runs now (e.g. uvicorn workers), so that they are
        still proven ours after the leader and the main process are gone."""
        found = process.members(sp)
        known = {r.pid for r in sp.known}
        extra = [p for p in found.ours if p.pid not in known]
        gone = [r for r in sp.members if all(p.pid != r.pid for p in found.ours)]
        if not extra and not gone:
            return
        kept = tuple(r for r in sp.members if r not in gone) + process.records_of(extra)
        self._runtime["process"] = ServiceProcess(sp.leader, sp.main, sp.sid, kept).to_dict()
        self._save()

    def _running(self) -> bool:
        sp = self._process
        return sp is not None and process.liveness(sp.main, sp.sid) == Liveness.ALIVE

    def _terminate(self, *, timeout: float, force: bool) -> None:
        sp = self._process
        if sp is None:
            return
        if process.members(sp).ours:
            process.kill_group(sp, timeout=timeout, force=force, monotonic=self._monotonic)
            port = self._port()
            if port and not process.wait_port_free(self.host, port, self._monotonic() + 5.0,
                                                   self._monotonic):
                holders = process.port_holders(port)
                raise ServiceStopError(
                    f"service {self._name!r} stopped but port {port} is still in use"
                    + (f" by {'; '.join(holders)}" if holders else ""), service=self._name)
        self._runtime["process"] = None
        if not self.config.get("port"):  # a port picked at start is not ours once stopped
            self._runtime["port"] = None
        self._save()

    def _record_is_live(self, record: Record) -> bool:
        data = (record.data or {}).get("runtime", {}).get("process")
        if not data:
            return False
        try:
            return bool(process.members(ServiceProcess.from_dict(data)).ours)
        except ValueError:
            return False

    def _retry_start(self, error: ServiceStartError) -> bool:
        # Only a port we picked ourselves: a port the user fixed stays a clear error.
        tail = (error.log_tail or "").lower()
        return self.config.get("port") == 0 and ("address already in use" in tail
                                                 or "errno 98" in tail)

    def health_check(self, timeout: float = 1.0) -> bool:
        sp = self._process
        if sp is None or process.liveness(sp.main, sp.sid) != Liveness.ALIVE:
            return False
        port, path = self._port(), self.config.get("health_path")
        if not port:
            return True
        if not path:
            try:
                with socket.create_connection((self.host, port), timeout=timeout):
                    return True
            except OSError:
                return False
        conn = http.client.HTTPConnection(self.host, port, timeout=timeout)
        try:
            conn.request("GET", path, headers=PROBE_HEADERS)
            return 200 <= conn.getresponse().status < 300
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def processes(self) -> list[Any]:
        """The live processes of the service's process group (psutil.Process), proven ours."""
        sp = self._process
        return [] if sp is None else process.group_members(sp)

    def handover(self, config: Mapping[str, Any], *, timeout: float | None = None,
                 check: Callable[[LocalDaemonService], None] | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        """Run the service with `config` instead, without a gap (blue-green): a second process
        starts beside the running one (its own port and log file), becomes healthy and passes
        `check(twin)`; then it is this service's process and the old one gets TERM (it finishes
        the requests in flight; KILL after `stop_timeout`). When nothing runs, a plain start
        with `config`. A twin that fails is stopped and the running process is untouched."""
        timeout = self.start_timeout if timeout is None else float(timeout)
        report = progress or (lambda _message: None)
        with self._exclusive():
            if self.check() is not ServiceState.ACTIVE:
                self._terminate(timeout=self.stop_timeout, force=True)
                self.config = dict(config)
                self._save()
                self.start(timeout=timeout, progress=report)
                twin: LocalDaemonService = self
            else:
                twin = type(self)._detached(self._name, self._uuid, dict(config),
                                            home=self.home)  # type: ignore[assignment]
                other = TWIN_LOG if self.log_path.name != TWIN_LOG else LOG_NAME
                twin._runtime["log_path"] = str(self.folder / other)
                deadline = self._monotonic() + timeout
                report("starting a second process beside the running one")
                try:
                    twin._launch(deadline)
                    twin._wait_healthy(deadline, timeout, report)
                except BaseException:
                    twin._terminate(timeout=self.stop_timeout, force=True)
                    raise
            try:
                if check is not None:
                    check(twin)
            except BaseException:
                if twin is self:
                    self.stop(force=True)
                else:
                    twin._terminate(timeout=self.stop_timeout, force=True)
                raise
            if twin is self:
                return
            old = self._process
            self.config = twin.config
            self._runtime.update(
                process=twin._runtime["process"], port=twin._runtime["port"],
                log_path=twin._runtime["log_path"], status=ServiceState.ACTIVE.value,
                wanted=ServiceState.ACTIVE.value, last_error=None, started=time.time())
            self._save()
            report(f"switched to the new process at {self._endpoint()}; stopping the old one")
            if old is not None:
                process.kill_group(old, timeout=self.stop_timeout, force=False,
                                   monotonic=self._monotonic)

    def logs(self, tail: int = 50) -> str:
        """The last `tail` lines of the service's log (reaching into the rotated file if needed)."""
        text = process.log_tail(self.log_path, tail)
        have = len(text.splitlines())
        if have < tail:
            older = process.log_tail(self.log_path.with_name(self.log_path.name + ".1"),
                                     tail - have)
            text = "\n".join(t for t in (older, text) if t)
        return text

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info.update(pid=self.pid, port=self.port, log=str(self.log_path))
        return redact.data(info)
