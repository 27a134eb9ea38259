"""`MLFlowDeploymentService`: one long-lived MLflow model server per service, and predictions.

mlflow is never imported here: the server (ctcd_jupyter/model_server/, or `mlflow models serve`:
server_kinds.py) runs in its own process tree. The client side talks to it over HTTP:
`/invocations` for predictions, `/ctcd/*` to swap.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import (
    ModelServerError,
    ModelSwapError,
    PredictionError,
    ServiceError,
    ServiceSpecError,
    ServiceStartError,
)
from ..model_server import redact
from ..model_server.request_limit import DEFAULT_MAX_REQUEST_BYTES, parse_size
from ..model_server.slot_files import read_target, served_before
from ..state import mlflow_tracking_uri, state_home
from . import payload, process, transaction
from .base import BaseService, ServiceState, _reporter
from .daemon import LocalDaemonService
from .kinds import register_kind
from .model_uri import check_model_uri
from .model_versions import ModelVersions
from .prediction_access import PredictionAccess, log_options
from .process import Liveness, ServiceProcess
from .server_kinds import ServerKind, server_kind

__all__ = ["MLFlowDeploymentService", "ModelSwapError"]

_JSON = {"Content-Type": "application/json"}


@register_kind("mlflow_deployment")
class MLFlowDeploymentService(PredictionAccess, ModelVersions, LocalDaemonService):
    """Serve an MLflow model over HTTP from one long-lived server on one port.

    The default server (`server="ctcd"`) is MLflow's own scoring app (`/ping`, `/health`,
    `/version`, `/invocations`, the same formats, errors and status codes as `mlflow models
    serve`) under uvicorn, inside a slot that `swap_model` loads with another model and switches
    atomically: in-flight requests finish on the old model, nothing is refused. Answers carry
    `X-Model-Uri`, `X-Model-Version` and `X-Request-Id`. A `models:/NAME@ALIAS` URI is followed:
    the server polls the registry every `poll_interval` seconds and serves what the alias points
    at. The port picked at the first start is kept across swaps and restarts (when still free).

    `server="mlflow"` runs the stock `mlflow models serve` instead (a swap then starts a second
    server on another port). `workers` defaults to 1: each worker holds its own model copy;
    several only pay off for concurrent clients. TCP_NODELAY is set on every connection
    (uvicorn issue #3149 made multi-worker keep-alive requests ~40 ms slower).

    A request body larger than `max_request_bytes` (bytes, or a size like "10MB", "64MiB")
    is refused with 413 before it is read; a connection that has not sent a request's headers
    within `header_timeout` seconds is closed (the ctcd server only: `server="mlflow"` has
    neither limit on bodies). The URI's form is checked at once (`ServiceSpecError`).
    `fast_path`: sklearn models answered as MLflow would, without its pandas work (fast_path.py);
    `batch_wait_ms`: concurrent requests gathered into one predict (0: never; micro_batch.py).
    Every answer is logged off the request path (`log_predictions`, `log_inputs` (False: a hash
    of the inputs), `log_sample`, `log_retention`, `prediction_log_max_bytes`; `prediction_log=`
    or $CTCD_PREDICTION_LOG: a folder or a postgresql:// URL): `predictions()` reads it,
    `log_labels()` and the server's `POST /feedback` join labels (prediction_access.py).
    """

    start_timeout = 120.0

    def __init__(self, name: str, model_uri: str, *, workers: int = 1,
                 host: str = "127.0.0.1", port: int | None = None,
                 request_timeout: float = 60.0, tracking_uri: str | None = None,
                 columns: Sequence[str] | None = None, nodelay: bool = True,
                 access_log: bool = True, env: Mapping[str, str] | None = None,
                 log_max_bytes: int = process.DEFAULT_LOG_MAX_BYTES, server: str = "ctcd",
                 poll_interval: float = 1.0, load_timeout: float = 120.0,
                 max_request_bytes: int | str = DEFAULT_MAX_REQUEST_BYTES,
                 header_timeout: float = 10.0, fast_path: bool = True,
                 batch_wait_ms: float = 1.0,
                 home: str | Path | None = None, log_predictions: bool = True,
                 log_inputs: bool = True, log_sample: float = 1.0,
                 log_retention: str | float | None = "30d", prediction_log: str | None = None,
                 prediction_log_max_bytes: int | None = None, **kwargs: Any):
        if int(workers) < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        server_kind(server, service=name)
        if float(poll_interval) <= 0:
            raise ValueError(f"poll_interval must be positive, not {poll_interval}")
        if float(header_timeout) <= 0:
            raise ValueError(f"header_timeout must be positive, not {header_timeout}")
        if not 0 <= float(batch_wait_ms) <= 100:
            raise ValueError(f"batch_wait_ms must be between 0 (off) and 100, not {batch_wait_ms}")
        try:
            max_request_bytes = parse_size(max_request_bytes)
        except ValueError as exc:
            raise ServiceSpecError(f"max_request_bytes: {exc}", service=name) from None
        check_model_uri(model_uri)
        tracking_uri = tracking_uri or mlflow_tracking_uri(state_home(home))
        BaseService.__init__(
            self, name, home=home, model_uri=str(model_uri), workers=int(workers), host=host,
            port=int(port) if port else 0, request_timeout=float(request_timeout),
            tracking_uri=tracking_uri, columns=list(columns) if columns else None,
            nodelay=bool(nodelay), access_log=bool(access_log), env=dict(env or {}),
            log_max_bytes=int(log_max_bytes), health_path="/ping", server=server,
            poll_interval=float(poll_interval), load_timeout=float(load_timeout),
            max_request_bytes=max_request_bytes, header_timeout=float(header_timeout),
            fast_path=bool(fast_path), batch_wait_ms=float(batch_wait_ms),
            **log_options(log_predictions, log_inputs, log_sample, log_retention,
                          prediction_log, prediction_log_max_bytes), **kwargs)

    @property
    def model_uri(self) -> str:
        """The URI the service serves, as configured (an alias URI is followed; a swap of the
        stock server, also by another process, changes it)."""
        self._fresh()
        return self.config["model_uri"]

    @property
    def workers(self) -> int:
        return int(self.config["workers"])

    @property
    def server(self) -> ServerKind:
        """The program that serves (server_kinds.py), chosen once by `server=`."""
        kind = self.__dict__.get("_server_kind")
        if kind is None:
            kind = self.__dict__["_server_kind"] = server_kind(self.config.get("server", "ctcd"))
        return kind

    def _endpoint(self) -> str | None:
        base = self._base_url()
        return f"{base}/invocations" if base else None

    # -- launching ----------------------------------------------------------------------------
    def _pick_port(self) -> int:
        kept = self._runtime.get("kept_port")
        if kept and process.port_is_free(self.host, int(kept)):
            return int(kept)
        port = process.free_port(self.host)
        self._runtime["kept_port"] = port
        return port

    def _command(self, host: str, port: int | None) -> list[str]:
        return self.server.command(self, host, port)

    def _env(self, host: str, port: int | None) -> dict[str, str]:
        env = super()._env(host, port)
        bindir = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([bindir, env.get("PATH", os.defpath)])
        env["MLFLOW_TRACKING_URI"] = self.config["tracking_uri"]
        return self.server.environment(self, env)

    def _spawn(self, command: list[str], env: dict[str, str],
               log_max_bytes: int) -> ServiceProcess:
        return (self.server.spawn(self, env, log_max_bytes)
                or super()._spawn(command, env, log_max_bytes))

    def _after_start(self) -> None:
        self.server.after_start(self)

    def _startup_failure(self) -> ServiceStartError | None:
        failure = super()._startup_failure()
        return None if failure is None else self.server.start_failure(self, failure)

    # -- the control routes -------------------------------------------------------------------
    def _control(self, method: str, path: str, body: Any = None,
                 timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
        """One control request; any failure of the channel is a `ModelServerError` naming the
        service, the server's exit code (when it died) and its log tail."""
        self.server.control(self)
        port = self._port()
        if not port:
            raise ServiceError(f"service {self._name!r} has no ctcd model server running",
                               service=self._name)
        conn = http.client.HTTPConnection("127.0.0.1" if self.host in ("0.0.0.0", "")
                                          else self.host, port, timeout=timeout)
        try:
            token = (self.folder / "control.token").read_text().strip()
            data = None if body is None else json.dumps(body)
            conn.request(method, path, body=data,
                         headers={"X-Ctcd-Token": token, **_JSON})
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise self._control_failed(f"{method} {path}", exc) from exc
        finally:
            conn.close()

    def _control_failed(self, doing: str, exc: Exception) -> ModelServerError:
        sp = self._process
        alive = sp is not None and process.liveness(sp.main, sp.sid) == Liveness.ALIVE
        if sp is not None and not alive:  # its log writer notes the exit code as it goes
            self._wait_group_exit(sp, self._monotonic() + 2.0)
        code = None if alive else process.exit_code_in_log(self.log_path)
        what = ("did not answer" if alive else "exited" + (f" with code {code}"
                                                           if code is not None else ""))
        tail = self.logs(tail=30)
        last = next((line for line in reversed(tail.splitlines()) if line.strip()), "")
        return ModelServerError(
            f"service {self._name!r}: the model server {what} during {doing} "
            f"({type(exc).__name__}: {exc}); last log line: {last[:300] or '-'}",
            service=self._name, log_tail=tail, returncode=code)

    def server_status(self) -> dict[str, Any] | None:
        """What the server says it serves (uri, version, workers, last error); None when it
        does not answer."""
        self._fresh()
        return self.server.status(self)

    @property
    def model_version(self) -> str | None:
        """The registry version the server answers with now (asked from the server)."""
        status = self.server_status()
        if status is not None:
            return status["serving"]["version"]
        return self.server.version_when_silent(self)

    @property
    def serving_uri(self) -> str | None:
        """The exact URI served: asked from the server, else what it last served (its own
        record in the service folder), which a start serves again."""
        status = self.server_status()
        if status is not None:
            return status["serving"]["uri"]
        return served_before(read_target(self.folder), self.config["model_uri"])

    @property
    def last_error(self) -> str | None:
        """The server's own last error (e.g. a candidate it refused, an unreachable registry)
        while it runs; otherwise the last recorded error."""
        recorded = BaseService.last_error.fget(self)  # type: ignore[attr-defined]
        if self._runtime.get("status") != ServiceState.ACTIVE.value:
            return recorded
        status = self.server.status(self)
        return status.get("last_error") if status is not None else recorded

    # -- replacing the model ------------------------------------------------------------------
    def swap_model(self, model_uri: str, *, probe: Any = None, timeout: float | None = None,
                   workers: int | None = None,
                   progress: bool | Callable[[str], None] | None = False,
                   why: str = "deployed") -> MLFlowDeploymentService:
        """Serve `model_uri` instead, in place: the server loads it beside the current model,
        probes it (with `probe`, else the model's input example) and switches; the port stays.
        A model that fails to load or to answer the probe is never served: `ModelSwapError`,
        and the old model keeps answering. When nothing is serving, this starts the server
        on `model_uri`."""
        self.server.swap(self, model_uri, probe=probe, timeout=timeout, workers=workers,
                         progress=progress, why=why)
        self.__dict__.pop("_columns_cache", None)
        return self

    def _swap_in_place(self, model_uri: str, *, probe: Any, timeout: float | None,
                       workers: int | None, progress: bool | Callable[[str], None] | None,
                       why: str) -> None:
        """ctcd's swap (server_kinds.CtcdServer): `POST /ctcd/swap` loads, probes and switches
        in the running server (the one name of a swap: model_server/slot.py)."""
        timeout = self.start_timeout if timeout is None else float(timeout)
        report = _reporter(self._name, progress)
        body = None if probe is None else payload.encode(probe, self._probe_columns(probe))
        with self._exclusive():
            if workers is not None and int(workers) != self.workers:
                self.config = {**self.config, "workers": int(workers)}
                if self.check() is ServiceState.ACTIVE:
                    self.stop()
            if self.check() is not ServiceState.ACTIVE:
                self._terminate(timeout=self.stop_timeout, force=True)
                self._runtime.update(boot_uri=str(model_uri), boot_why=why, boot_probe=
                                     None if body is None else body.decode())
                self._save()
                report(f"starting the server on {model_uri}")
                try:
                    self.start(timeout=timeout, progress=report)
                finally:  # once started, the server's own state says what it serves
                    self._runtime.pop("boot_uri", None)
                    self._save()
                return
            report(f"loading {model_uri}")
            status, answer = self._control("POST", "/ctcd/swap", {
                "uri": str(model_uri), "why": why, "timeout": timeout,
                "probe": None if body is None else body.decode()}, timeout=timeout + 30)
            if status != 200 or not answer.get("ok"):
                error = answer.get("error") or f"the server answered {status}"
                report(f"refused: {error}")
                raise ModelSwapError(f"service {self._name!r}: {error}; the previous model "
                                     "keeps serving", service=self._name,
                                     uri=answer.get("uri"), version=answer.get("version"),
                                     reason=error.split(" was not served: ", 1)[-1])
            if answer.get("unchanged"):
                report(f"already serving v{answer['version'] or '-'} ({answer['uri']})")
                return
            self.__dict__.pop("_columns_cache", None)
            stragglers = [w for w in answer.get("workers", [])
                          if int(w.get("generation", 0)) < int(answer["generation"])]
            suffix = f" ({len(stragglers)} worker(s) still loading)" if stragglers else ""
            report(f"probe ok, serving v{answer['version'] or '-'} at "
                   f"{self._endpoint()}{suffix}")
            return

    # -- lifecycle: settle first, never trade a serving server for one that cannot start ----
    def start(self, timeout: float | None = None, *,
              progress: bool | Callable[[str], None] | None = None) -> MLFlowDeploymentService:
        self.recover()
        super().start(timeout, progress=progress)
        return self

    def restart(self, timeout: float | None = None) -> MLFlowDeploymentService:
        """Stop and start again, serving what was served; refused (the server keeps serving)
        when what a new start would serve cannot be loaded."""
        self.recover()
        self.server.check_restart(self)
        super().restart(timeout)
        return self

    def delete(self, *, stop: bool = True) -> None:
        super().delete(stop=stop)
        transaction.unpin(self.home, self._name)  # a later service of this name starts free

    # -- predictions --------------------------------------------------------------------------
    def predict(self, data: Any, *, timeout: float | None = None) -> Any:
        """Predictions for `data` (a DataFrame, ndarray, list of records or rows, or a dict of
        columns): an ndarray of values, or a DataFrame when the model returns records.

        A 4xx/5xx answer raises `PredictionError` carrying the server's message.
        """
        columns = self._columns_for(data)
        body = payload.encode(data, columns)
        timeout = float(timeout or self.config.get("request_timeout") or 60.0)
        response = self._post(body, timeout)
        cache = self.__dict__.get("_columns_cache")
        if cache is not None and cache[0] != response.headers.get("X-Model-Version"):
            self.__dict__.pop("_columns_cache", None)  # another version answers now
        if response.status_code >= 400:
            message = _server_message(response)
            raise PredictionError(
                f"service {self._name!r} answered {response.status_code}: {message}",
                service=self._name, status_code=response.status_code, server_message=message)
        return payload.decode(response.content)

    def _post(self, body: bytes, timeout: float) -> Any:
        import requests

        session = self._session()
        endpoint = self._endpoint()  # no store read on the hot path; refreshed on failure
        for attempt in (1, 2):
            if endpoint is None:
                break
            try:
                return session.post(endpoint, data=body, headers=_JSON, timeout=timeout)
            except requests.ConnectionError as exc:
                error: Exception = exc
            except requests.Timeout as exc:
                raise PredictionError(
                    f"service {self._name!r} did not answer within {timeout:g} s",
                    service=self._name) from exc
            if attempt == 1:  # another process may have restarted it on a new port
                self.check()
                endpoint = self._endpoint()
        status = self.check()
        raise PredictionError(
            f"service {self._name!r} is not reachable (status {status.value}"
            + (f"; {self.last_error.splitlines()[0]}" if self.last_error else "") + ")",
            service=self._name, log_tail=self.logs(tail=10)) from (
                error if endpoint is not None else None)

    def _session(self) -> Any:
        # One kept-alive session per thread: requests.Session is not thread-safe.
        local = self.__dict__.get("_sessions")
        if local is None:
            local = self.__dict__.setdefault("_sessions", threading.local())
        session = getattr(local, "session", None)
        if session is None:
            import requests

            session = local.session = requests.Session()
        return session

    def _probe_columns(self, data: Any) -> list[str] | None:
        return self._columns_for(data) if self._runtime.get("status") == "ACTIVE" else None

    def _columns_for(self, data: Any) -> list[str] | None:
        """Column names for unnamed rows (ndarray, list of lists), from the config or the
        signature of the model being served (asked once per served version)."""
        named = isinstance(data, Mapping) or type(data).__module__.startswith("pandas") or (
            isinstance(data, list) and data and isinstance(data[0], Mapping))
        if named:
            return None
        if self.config.get("columns"):
            return self.config["columns"]
        cache = self.__dict__.get("_columns_cache")
        if cache is None:
            found = self._served_columns()
            if found is None:
                return None  # not known yet (server not up): ask again next time
            cache = self.__dict__["_columns_cache"] = found
        return cache[1]

    def _served_columns(self) -> tuple[str | None, list[str] | None] | None:
        """(version, input names or None for an unnamed/tensor signature), or None when the
        server could not say."""
        self._fresh()
        return self.server.served_columns(self)

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        status = self.server_status()
        info.update(server=self.config.get("server", "ctcd"),
                    serving=status["serving"] if status else None,
                    workers_serving=status["workers"] if status else None,
                    kept_port=self._runtime.get("kept_port"), pinned=self.pinned,
                    log_dropped=(status.get("prediction_log") or {}).get("dropped", 0)
                    if status else None)
        return redact.data(info)


def _server_message(response: Any) -> str:
    try:
        answer = response.json()
    except ValueError:
        return response.text.strip()[:2000] or response.reason
    if isinstance(answer, dict) and "message" in answer:
        return str(answer["message"])
    return json.dumps(answer)[:2000]
