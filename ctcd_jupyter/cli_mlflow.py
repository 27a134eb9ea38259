"""`ctcd mlflow-ui` (and what `%mlflow ui` shares with it): the MLflow UI on the workspace's
tracking store, run as a `LocalDaemonService` named `mlflow-ui`, so it shows in the panels and
outlives the kernel. `register` adds the command to the CLI's table."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import ServiceNotFoundError
from .state import ensure_dir, mlflow_tracking_uri, state_home

__all__ = ["NAME", "mlflow_ui", "register", "ui_command"]

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


def mlflow_ui(home: str | os.PathLike | None = None, *, timeout: float = 120.0,
              progress: Any = None) -> Any:
    """Start (or find running) the workspace's MLflow UI and return its service; its
    `base_url` is the link."""
    from .services import LocalDaemonService, get_service

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


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait until the UI answers (default 120)")


def _handler(args: argparse.Namespace) -> int:
    svc = mlflow_ui(args.home, timeout=args.timeout, progress=True)
    print(f"MLflow UI on {mlflow_tracking_uri(state_home(args.home))}: {svc.base_url}")
    print(f"stop it with: ctcd services stop {NAME}")
    return 0


def register(groups: dict[str, Any], group: Callable[..., Any]) -> None:
    """Add `ctcd mlflow-ui` to the CLI's GROUPS table (`group` is cli.Group)."""
    groups["mlflow-ui"] = group("start the MLflow UI on this state folder's tracking store "
                                "(a service named mlflow-ui) and print its link",
                                _arguments, _handler)
