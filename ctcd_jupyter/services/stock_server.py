"""The stock `mlflow models serve` option of `MLFlowDeploymentService` (`server="mlflow"`).

Kept as a baseline and for environments that want MLflow's CLI: a swap starts a second server
on another port beside the first, then switches the endpoint and stops the old one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import process
from .base import ServiceState, _reporter
from .daemon import LOG_NAME

if TYPE_CHECKING:
    from .mlflow_serving import MLFlowDeploymentService

__all__ = ["stock_command", "stock_signature_columns", "stock_swap"]

SWAP_LOG = "service.b.log"  # a swapped-in server logs here, then the next one to service.log


def stock_command(svc: MLFlowDeploymentService, host: str, port: int | None) -> list[str]:
    bindir = Path(sys.executable).parent
    cli = [str(bindir / "mlflow")] if (bindir / "mlflow").exists() \
        else [sys.executable, "-m", "mlflow"]
    return [*cli, "models", "serve", "-m", svc.config["model_uri"], "--env-manager", "local",
            "-h", host, "-p", str(port), "--workers", str(svc.workers)]


def stock_swap(svc: MLFlowDeploymentService, model_uri: str, *, probe: Any = None,
               timeout: float | None = None, workers: int | None = None,
               progress: bool | Callable[[str], None] | None = False,
               ) -> MLFlowDeploymentService:
    """A second server beside the running one; the endpoint (and port) switch to it."""
    timeout = svc.start_timeout if timeout is None else float(timeout)
    report = _reporter(svc.name, progress)
    config = {**svc.config, "model_uri": str(model_uri)}
    if workers is not None:
        config["workers"] = int(workers)
    with svc._exclusive():
        if svc.check() is not ServiceState.ACTIVE:
            svc._terminate(timeout=svc.stop_timeout, force=True)
            svc.config = config
            svc._save()
            svc.start(timeout=timeout, progress=progress)
            if probe is not None:
                try:
                    svc.predict(probe)
                except BaseException:
                    svc.stop(force=True)
                    raise
            return svc
        shadow = type(svc)._detached(svc.name, svc.uuid, config, home=svc.home)
        other = SWAP_LOG if svc.log_path.name != SWAP_LOG else LOG_NAME
        shadow._runtime["log_path"] = str(svc.folder / other)
        deadline = svc._monotonic() + timeout
        report(f"starting a second server for {model_uri}")
        try:
            shadow._launch(deadline)
            shadow._wait_healthy(deadline, timeout, report)
            if probe is not None:
                shadow.predict(probe)
        except BaseException:
            shadow._terminate(timeout=svc.stop_timeout, force=True)
            raise
        old = svc._process
        svc.config = shadow.config
        svc._runtime.update(
            process=shadow._runtime["process"], port=shadow._runtime["port"],
            log_path=shadow._runtime["log_path"], status=ServiceState.ACTIVE.value,
            wanted=ServiceState.ACTIVE.value, last_error=None, started=time.time())
        svc._save()
        svc.__dict__.pop("_columns_cache", None)
        report(f"switched to {model_uri} at {svc._endpoint()}; stopping the old server")
        if old is not None:
            # TERM lets uvicorn finish the requests in flight (drain), KILL after the timeout
            process.kill_group(old, timeout=svc.stop_timeout, force=False, monotonic=svc._monotonic)
        return svc


def stock_signature_columns(svc: MLFlowDeploymentService) -> list[str] | None:
    """Input names from the signature of the model the stock server loaded: its uvicorn
    process names the model's local copy in `__pyfunc_model_path__`."""
    sp = svc._process
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
