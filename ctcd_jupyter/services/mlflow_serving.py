"""`MLFlowDeploymentService`: a model served by `mlflow models serve`, and predictions from it.

mlflow itself is never imported here: the server runs in its own process tree, launched through
the MLflow CLI.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import PredictionError
from ..state import mlflow_tracking_uri, state_home
from . import payload, process
from .base import BaseService, ServiceState, _reporter
from .daemon import LOG_NAME, LocalDaemonService
from .kinds import register_kind

__all__ = ["MLFlowDeploymentService"]

_HOOKS = Path(__file__).with_name("_uvicorn_hooks")
_NODELAY_PROTOCOL = "ctcd_nodelay_http:NoDelayHTTPProtocol"
_JSON = {"Content-Type": "application/json"}
SWAP_LOG = "service.b.log"  # a swapped-in server logs here, then the next one to service.log


@register_kind("mlflow_deployment")
class MLFlowDeploymentService(LocalDaemonService):
    """Serve an MLflow model over HTTP with `mlflow models serve`, as a detached local daemon.

    The server runs `mlflow models serve -m MODEL_URI --env-manager local -h HOST -p PORT
    --workers N` with this Python's `bin/` first on its PATH (the CLI execs `uvicorn` through
    PATH), and is healthy when GET `/ping` answers 200. `port=None` picks a free port at each
    start.

    `workers` defaults to 1: on a small machine one uvicorn worker answers single-row requests in
    a few milliseconds, and each extra worker loads its own copy of the model (about 300 MiB
    for a small sklearn model). Several workers only pay off for concurrent clients.
    Multi-worker uvicorn leaves TCP_NODELAY off on its connections, which made every kept-alive
    request ~40 ms slower (uvicorn issue #3149); with `nodelay=True` (the default) the server
    uses a protocol class that turns it on, so any worker count stays fast.
    """

    start_timeout = 120.0

    def __init__(self, name: str, model_uri: str, *, workers: int = 1,
                 host: str = "127.0.0.1", port: int | None = None,
                 request_timeout: float = 60.0, tracking_uri: str | None = None,
                 columns: Sequence[str] | None = None, nodelay: bool = True,
                 access_log: bool = True, env: Mapping[str, str] | None = None,
                 log_max_bytes: int = process.DEFAULT_LOG_MAX_BYTES,
                 home: str | Path | None = None, **kwargs: Any):
        if int(workers) < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        tracking_uri = tracking_uri or mlflow_tracking_uri(state_home(home))
        BaseService.__init__(
            self, name, home=home, model_uri=str(model_uri), workers=int(workers), host=host,
            port=int(port) if port else 0, request_timeout=float(request_timeout),
            tracking_uri=tracking_uri, columns=list(columns) if columns else None,
            nodelay=bool(nodelay), access_log=bool(access_log), env=dict(env or {}),
            log_max_bytes=int(log_max_bytes), health_path="/ping", **kwargs)

    @property
    def model_uri(self) -> str:
        return self.config["model_uri"]

    @property
    def workers(self) -> int:
        return int(self.config["workers"])

    def _endpoint(self) -> str | None:
        base = self._base_url()
        return f"{base}/invocations" if base else None

    def _command(self, host: str, port: int | None) -> list[str]:
        bindir = Path(sys.executable).parent
        cli = [str(bindir / "mlflow")] if (bindir / "mlflow").exists() \
            else [sys.executable, "-m", "mlflow"]
        return [*cli, "models", "serve", "-m", self.model_uri, "--env-manager", "local",
                "-h", host, "-p", str(port), "--workers", str(self.workers)]

    def _env(self, host: str, port: int | None) -> dict[str, str]:
        env = super()._env(host, port)
        bindir = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([bindir, env.get("PATH", os.defpath)])
        env["MLFLOW_TRACKING_URI"] = self.config["tracking_uri"]
        if self.config.get("nodelay", True):
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(_HOOKS), env.get("PYTHONPATH")) if p)
            env.setdefault("UVICORN_HTTP", _NODELAY_PROTOCOL)
        if not self.config.get("access_log", True):
            env["UVICORN_ACCESS_LOG"] = "false"
        return env

    # -- replacing the model ------------------------------------------------------------------
    def swap_model(self, model_uri: str, *, probe: Any = None, timeout: float | None = None,
                   workers: int | None = None,
                   progress: bool | Callable[[str], None] | None = False,
                   ) -> MLFlowDeploymentService:
        """Serve `model_uri` instead, without downtime: a second server starts beside the
        running one, must answer its health check (and predict `probe`, if given), then the
        service's endpoint switches to it and the old server is stopped gracefully. If anything
        fails before the switch, the new server is killed and the old one keeps serving.
        When nothing is serving, this is a plain start on the new model."""
        timeout = self.start_timeout if timeout is None else float(timeout)
        report = _reporter(self._name, progress)
        config = {**self.config, "model_uri": str(model_uri)}
        if workers is not None:
            config["workers"] = int(workers)
        with self._exclusive():
            if self.check() is not ServiceState.ACTIVE:
                self._terminate(timeout=self.stop_timeout, force=True)
                self.config = config
                self._save()
                self.start(timeout=timeout, progress=progress)
                if probe is not None:
                    try:
                        self.predict(probe)
                    except BaseException:
                        self.stop(force=True)  # nothing was serving: leave nothing half-right
                        raise
                return self
            shadow = type(self)._detached(self._name, self._uuid, config, home=self.home)
            other = SWAP_LOG if self.log_path.name != SWAP_LOG else LOG_NAME
            shadow._runtime["log_path"] = str(self.folder / other)
            deadline = self._clock() + timeout
            report(f"starting a second server for {model_uri}")
            try:
                shadow._launch(deadline)
                shadow._wait_healthy(deadline, timeout, report)
                if probe is not None:
                    shadow.predict(probe)
            except BaseException:
                shadow._terminate(timeout=self.stop_timeout, force=True)
                raise
            old = self._process
            self.config = shadow.config
            self._runtime.update(
                process=shadow._runtime["process"], port=shadow._runtime["port"],
                log_path=shadow._runtime["log_path"], status=ServiceState.ACTIVE.value,
                wanted=ServiceState.ACTIVE.value, last_error=None, started=time.time())
            self._save()
            self.__dict__.pop("_signature_columns", None)
            report(f"switched to {model_uri} at {self._endpoint()}; stopping the old server")
            if old is not None:
                # TERM lets uvicorn finish the requests in flight (drain), KILL after the timeout
                process.kill_group(old, timeout=self.stop_timeout, force=False, clock=self._clock)
            return self

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
            + (f"; {self.last_error}" if self.last_error else "") + ")",
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

    def _columns_for(self, data: Any) -> list[str] | None:
        """Column names for unnamed rows (ndarray, list of lists), from the config or the model's
        signature (looked up once through MLflow)."""
        named = isinstance(data, Mapping) or type(data).__module__.startswith("pandas") or (
            isinstance(data, list) and data and isinstance(data[0], Mapping))
        if named:
            return None
        if self.config.get("columns"):
            return self.config["columns"]
        cached = self.__dict__.get("_signature_columns")
        if cached is None:  # looked up until found: the server may not have been up yet
            cached = self.__dict__["_signature_columns"] = self._signature_columns()
        return cached

    def _signature_columns(self) -> list[str] | None:
        """Input names from the signature of the model the server loaded: the uvicorn process
        names the model's local copy in `__pyfunc_model_path__` (no MLflow import needed)."""
        sp = self._process
        if sp is None:
            return None
        for proc in process.group_members(sp):
            try:
                path = proc.environ().get("__pyfunc_model_path__")
            except Exception:  # gone or not ours to read
                continue
            if path:
                return _input_names(Path(path.removeprefix("file://")) / "MLmodel")
        return None


def _input_names(mlmodel: Path) -> list[str] | None:
    try:
        import yaml

        signature = (yaml.safe_load(mlmodel.read_text()) or {}).get("signature") or {}
        inputs = json.loads(signature.get("inputs") or "null")
    except (OSError, ValueError, ImportError, AttributeError):
        return None
    if isinstance(inputs, list) and inputs and all(isinstance(i, dict) and "name" in i
                                                   for i in inputs):
        return [str(i["name"]) for i in inputs]
    return None


def _server_message(response: Any) -> str:
    try:
        answer = response.json()
    except ValueError:
        return response.text.strip()[:2000] or response.reason
    if isinstance(answer, dict) and "message" in answer:
        return str(answer["message"])
    return json.dumps(answer)[:2000]
