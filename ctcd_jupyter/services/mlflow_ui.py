"""The MLflow UI on a state folder's tracking store, run as a `LocalDaemonService` named
`mlflow-ui`: it shows in the panels and outlives the kernel (`ctcd mlflow-ui`, `%mlflow ui`)."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import CtcdError, ServiceNotFoundError
from ..state import ensure_dir, mlflow_tracking_uri, state_home
from .daemon import LocalDaemonService
from .registry import get_service

__all__ = ["NAME", "mlflow_ui", "running_ui_url", "ui_command"]

NAME = "mlflow-ui"


def ui_command(home: Path) -> list[str]:
    """`mlflow ui` on the workspace's store, one worker, on `{host}:{port}` (filled at start)."""
    bindir = Path(sys.executable).parent
    cli = [str(bindir / "mlflow")] if (bindir / "mlflow").exists() \
        else [sys.executable, "-m", "mlflow"]
    artifacts = ensure_dir(home / "mlartifacts").as_uri()
    return [*cli, "ui", "--backend-store-uri", mlflow_tracking_uri(home),
            "--default-artifact-root", artifacts, "--host", "{host}", "--port", "{port}",
            "--workers", "1"]


def running_ui_url(home: str | os.PathLike | None = None) -> str | None:
    """The address of the state folder's MLflow UI when its service is running, else None
    (the one lookup behind the panels' run links and the REST `/info`)."""
    with contextlib.suppress(CtcdError):
        svc = get_service(NAME, state_home(home))
        if svc.is_running:
            return svc.base_url
    return None


def mlflow_ui(home: str | os.PathLike | None = None, *, timeout: float = 120.0,
              progress: Any = None) -> Any:
    """Start (or find running) the workspace's MLflow UI and return its service; its
    `base_url` is the link."""
    folder = state_home(home)
    with contextlib.suppress(ServiceNotFoundError):
        running = get_service(NAME, folder)
        if running.is_running:
            return running
    bindir = str(Path(sys.executable).parent)
    env = {"PATH": os.pathsep.join([bindir, os.environ.get("PATH", os.defpath)]),
           # without it MLflow 3 starts job consumers: about 2.6 GB for a UI
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    svc = LocalDaemonService(NAME, ui_command(folder), health_path="/health", env=env,
                             home=folder)
    svc.start(timeout=timeout, progress=progress)
    return svc
