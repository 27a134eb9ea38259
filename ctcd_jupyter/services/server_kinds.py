"""Which program serves an `MLFlowDeploymentService`: a server kind, chosen once from `server=`.

- `CtcdServer` ("ctcd", the default): ctcd's model server (ctcd_jupyter/model_server/), one
  long-lived process per service that swaps models in place, answers its token-protected control
  routes (`/ctcd/status`, `/ctcd/swap`, `/ctcd/check`), forks from a warm process, and settles
  interrupted deployments.
- `StockServer` ("mlflow"): MLflow's own `mlflow models serve`, kept as the baseline and for
  environments that want MLflow's CLI. It has no control routes: a swap is a blue-green handover
  (`LocalDaemonService.handover`: a second server on another port, then the old one drains).

The service asks its kind at each point where the two differ (the command and environment of a
start, how a process is spawned, what a failed start means, what the server says it serves, how a
swap happens, whether a restart could serve, recovery); it never branches on the name. A kind
works through the service's public interface (and the daemon's generic `handover`) plus the few
internals of the ctcd server's client it names here: `_control` (the control channel),
`_swap_in_place` (the swap), `_runtime` (boot notes), `_server_log_config` (the log's options)
and `_env` (the environment a warm process is prepared with).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ServiceError, ServiceSpecError, ServiceStartError, unknown_name
from ..model_server.model_uri import parse_models_uri
from ..model_server.slot_files import remove_leftover_copies
from . import transaction, warm_start
from .base import ServiceState, _reporter
from .process import ServiceProcess

if TYPE_CHECKING:
    from .mlflow_serving import MLFlowDeploymentService

__all__ = ["SERVER_HOOKS", "SERVER_KINDS", "CtcdServer", "ServerKind", "StockServer",
           "server_kind"]

# uvicorn's HTTP protocol with TCP_NODELAY, beside the model server's entry point (serve.py)
UVICORN_HOOKS = warm_start.SERVE.with_name("_uvicorn_hooks")
_NODELAY_PROTOCOL = "ctcd_nodelay_http:NoDelayHTTPProtocol"
# what the ctcd server calls back into this package with (model_server/hooks.py)
SERVER_HOOKS = {"served": "ctcd_jupyter.services.serving_history:record_served",
                "pending": "ctcd_jupyter.services.transaction:is_pending",
                "settle": "ctcd_jupyter.services.transaction:recover"}
# what the ctcd server reads from server.json, as configured on the service
_SERVER_CONFIG = ("model_uri", "workers", "host", "request_timeout", "tracking_uri", "nodelay",
                  "access_log", "poll_interval", "load_timeout", "max_request_bytes",
                  "header_timeout")


class ServerKind:
    """What differs between the programs that can serve an MLflow service."""

    name = ""

    def command(self, svc: MLFlowDeploymentService, host: str, port: int | None) -> list[str]:
        raise NotImplementedError

    def environment(self, svc: MLFlowDeploymentService, env: dict[str, str]) -> dict[str, str]:
        """`env` (the service's environment for a start) with what this program reads."""
        if svc.config.get("nodelay", True):
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(UVICORN_HOOKS), env.get("PYTHONPATH")) if p)
        return env

    def spawn(self, svc: MLFlowDeploymentService, env: dict[str, str],
              log_max_bytes: int) -> ServiceProcess | None:
        """A process started another way than as a new interpreter, or None."""
        return None

    def after_start(self, svc: MLFlowDeploymentService) -> None:
        """Called once the server is healthy."""

    def start_failure(self, svc: MLFlowDeploymentService,
                      failure: ServiceStartError) -> ServiceStartError:
        """The error a failed start raises (the program may say better what went wrong)."""
        return failure

    def status(self, svc: MLFlowDeploymentService) -> dict[str, Any] | None:
        """What the server says it serves; None when it cannot say."""
        return None

    def control(self, svc: MLFlowDeploymentService) -> None:
        """Refuse (ServiceError) when this program has no control routes."""

    def version_when_silent(self, svc: MLFlowDeploymentService) -> str | None:
        """The served version when the server does not answer `status`."""
        return None

    def swap(self, svc: MLFlowDeploymentService, model_uri: str, *, probe: Any,
             timeout: float | None, workers: int | None,
             progress: bool | Callable[[str], None] | None, why: str) -> None:
        raise NotImplementedError

    def served_columns(self, svc: MLFlowDeploymentService,
                       ) -> tuple[str | None, list[str] | None] | None:
        """(version, input names or None) of the model served, or None when not known."""
        status = self.status(svc)
        if status is None:
            return None
        return status["serving"]["version"], status.get("columns")

    def check_restart(self, svc: MLFlowDeploymentService) -> None:
        """Refuse (ServiceError) a restart that could not serve; the server keeps serving."""

    def recover(self, svc: MLFlowDeploymentService) -> int | None:
        """Settle a deployment whose caller died; the decision id, or None."""
        return None


class CtcdServer(ServerKind):
    """ctcd's own model server (ctcd_jupyter/model_server/)."""

    name = "ctcd"

    def command(self, svc: MLFlowDeploymentService, host: str, port: int | None) -> list[str]:
        folder = svc.folder
        token = folder / "control.token"
        if not token.exists():
            fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        runtime = svc._runtime
        config = {key: svc.config.get(key) for key in _SERVER_CONFIG}
        config.update(port=port, service=svc.name, home=str(svc.home),
                      initial_uri=runtime.get("boot_uri"), probe=runtime.pop("boot_probe", None),
                      boot_why=runtime.pop("boot_why", None) or "started",
                      prediction_log=svc._server_log_config(), hooks=SERVER_HOOKS)
        fd = os.open(folder / "server.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(config))
        return [sys.executable, str(warm_start.SERVE), str(folder)]  # by path: serve.py says why

    def environment(self, svc: MLFlowDeploymentService, env: dict[str, str]) -> dict[str, str]:
        env = super().environment(svc, env)
        # read by model_server/fast_path.py and micro_batch.py in the server
        if not svc.config.get("fast_path", True):
            env["CTCD_FAST_PATH"] = "0"
        env.setdefault("CTCD_BATCH_WAIT_MS", str(svc.config.get("batch_wait_ms", 1.0)))
        return env

    def spawn(self, svc: MLFlowDeploymentService, env: dict[str, str],
              log_max_bytes: int) -> ServiceProcess | None:
        """Forked by the warm process when there is one (~0.2 s to healthy instead of ~2.5 s:
        warm_start.py)."""
        remove_leftover_copies(svc.folder)  # of a server that was killed
        sp = warm_start.launch(svc.folder, log_path=svc.log_path, env=env,
                               log_max_bytes=log_max_bytes)
        svc._runtime["warm"] = sp is not None
        return sp

    def after_start(self, svc: MLFlowDeploymentService) -> None:
        if svc._runtime.get("warm") is False:
            # this one started cold: have a warm process ready for the next one
            warm_start.prepare(svc._env(svc.host, svc.port))

    def start_failure(self, svc: MLFlowDeploymentService,
                      failure: ServiceStartError) -> ServiceStartError:
        reason = next((line.split("cannot start: ", 1)[1] for line in
                       reversed((failure.log_tail or "").splitlines())
                       if "[ctcd] model server cannot start: " in line), None)
        if not reason:
            return failure
        # one line naming what was wrong, the log tail kept on the error
        return ServiceStartError(f"service {svc.name!r} cannot serve: {reason}",
                                 service=svc.name, log_tail=failure.log_tail,
                                 returncode=failure.returncode)

    def status(self, svc: MLFlowDeploymentService) -> dict[str, Any] | None:
        try:
            code, answer = svc._control("GET", "/ctcd/status")
        except (OSError, ValueError, ServiceError):
            return None
        return answer if code == 200 else None

    def swap(self, svc: MLFlowDeploymentService, model_uri: str, *, probe: Any,
             timeout: float | None, workers: int | None,
             progress: bool | Callable[[str], None] | None, why: str) -> None:
        svc._swap_in_place(model_uri, probe=probe, timeout=timeout, workers=workers,
                           progress=progress, why=why)

    def check_restart(self, svc: MLFlowDeploymentService) -> None:
        if svc.check() is not ServiceState.ACTIVE:
            return
        wait = float(svc.config.get("load_timeout") or 120.0)
        try:
            code, answer = svc._control("POST", "/ctcd/check", {}, timeout=wait + 30)
        except ServiceError:
            return  # not answering: a restart is what it needs
        if code == 422:
            raise ServiceError(
                f"service {svc.name!r} was not restarted and keeps serving "
                f"v{svc.model_version or '-'}: a new start could not serve "
                f"({answer.get('error')})", service=svc.name)

    def recover(self, svc: MLFlowDeploymentService) -> int | None:
        return transaction.recover(svc.home, svc.name)


class StockServer(ServerKind):
    """`mlflow models serve` (no in-place swap, no control routes, no request limits)."""

    name = "mlflow"

    def command(self, svc: MLFlowDeploymentService, host: str, port: int | None) -> list[str]:
        bindir = Path(sys.executable).parent
        cli = [str(bindir / "mlflow")] if (bindir / "mlflow").exists() \
            else [sys.executable, "-m", "mlflow"]
        return [*cli, "models", "serve", "-m", svc.config["model_uri"], "--env-manager",
                "local", "-h", host, "-p", str(port), "--workers", str(svc.workers)]

    def environment(self, svc: MLFlowDeploymentService, env: dict[str, str]) -> dict[str, str]:
        env = super().environment(svc, env)
        if svc.config.get("nodelay", True):
            env.setdefault("UVICORN_HTTP", _NODELAY_PROTOCOL)
            env["CTCD_HEADER_TIMEOUT"] = str(svc.config.get("header_timeout") or 10.0)
        if not svc.config.get("access_log", True):
            env["UVICORN_ACCESS_LOG"] = "false"
        return env

    def control(self, svc: MLFlowDeploymentService) -> None:
        raise ServiceError(f"service {svc.name!r} has no ctcd model server running "
                           "(it runs `mlflow models serve`)", service=svc.name)

    def version_when_silent(self, svc: MLFlowDeploymentService) -> str | None:
        parsed = parse_models_uri(svc.config["model_uri"])
        return parsed[1] if parsed else None

    def swap(self, svc: MLFlowDeploymentService, model_uri: str, *, probe: Any,
             timeout: float | None, workers: int | None,
             progress: bool | Callable[[str], None] | None, why: str) -> None:
        """A second server beside the running one; the endpoint (and port) switch to it."""
        config = {**svc.config, "model_uri": str(model_uri)}
        if workers is not None:
            config["workers"] = int(workers)
        svc.handover(config, timeout=timeout, progress=_reporter(svc.name, progress),
                     check=None if probe is None else lambda twin: twin.predict(probe))

    def served_columns(self, svc: MLFlowDeploymentService,
                       ) -> tuple[str | None, list[str] | None] | None:
        """Input names from the signature of the model the server loaded: its uvicorn process
        names the model's local copy in `__pyfunc_model_path__`."""
        for proc in svc.processes():
            try:
                path = proc.environ().get("__pyfunc_model_path__")
            except Exception:  # gone or not ours to read
                continue
            if path:
                columns = _input_names(Path(path.removeprefix("file://")) / "MLmodel")
                return None if columns is None else (None, columns)
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


SERVER_KINDS: dict[str, ServerKind] = {kind.name: kind for kind in (CtcdServer(), StockServer())}


def server_kind(name: str, *, service: str | None = None) -> ServerKind:
    """The server kind called `name`; a one-line `ServiceSpecError` naming the kinds otherwise."""
    kind = SERVER_KINDS.get(str(name))
    if kind is None:
        raise ServiceSpecError(unknown_name("server", name, SERVER_KINDS), service=service)
    return kind
