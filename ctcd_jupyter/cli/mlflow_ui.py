"""`ctcd mlflow-ui`: start the MLflow UI on this state folder's store and print its link."""

from __future__ import annotations

import argparse

from ..services.mlflow_ui import NAME, mlflow_ui
from ..state import mlflow_tracking_uri, state_home
from .group import Group

__all__ = ["COMMANDS"]


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait until the UI answers (default 120)")


def _handler(args: argparse.Namespace) -> int:
    svc = mlflow_ui(args.home, timeout=args.timeout, progress=True)
    print(f"MLflow UI on {mlflow_tracking_uri(state_home(args.home))}: {svc.base_url}")
    print(f"stop it with: ctcd services stop {NAME}")
    return 0


COMMANDS = {
    "mlflow-ui": Group("start the MLflow UI on this state folder's runs and print its link",
                       _arguments, _handler,
                       "start the MLflow UI on this state folder's tracking store (a service "
                       "named mlflow-ui, stopped with `ctcd services stop mlflow-ui`) and "
                       "print its link"),
}
