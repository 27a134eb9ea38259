"""The IPython front end: `%load_ext ctcd_jupyter` registers one Magics class per noun, all
acting on the process's workspace; `%unload_ext` stops the scheduler and removes them again.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["load_ipython_extension", "unload_ipython_extension"]

_LOADED_ATTR = "_ctcd_magics"
_URI_ATTR = "_ctcd_mlflow_uri"  # the MLFLOW_TRACKING_URI this extension set, to undo on unload


def _point_mlflow_at(ipython: Any, home: Any) -> None:
    """Make the workspace's store MLflow's default in this kernel, so `mlflow.MlflowClient()`
    in the notebook sees ctcd's runs and models (and writes no stray ./mlflow.db). Through the
    environment, which MLflow reads on first use: importing mlflow here would cost seconds."""
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return  # the user's choice wins
    from ..state import mlflow_tracking_uri

    uri = mlflow_tracking_uri(home)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    setattr(ipython, _URI_ATTR, uri)
    if "mlflow" in sys.modules:  # already imported: its default was read, set it directly
        sys.modules["mlflow"].set_tracking_uri(uri)


def _magics() -> tuple[type, ...]:
    # Imported here, not above: `import ctcd_jupyter` in a kernel installs the progress line
    # (magics.progress), which must not pull in every layer through this package.
    from .mlflow import MlflowMagics
    from .monitor import MonitorMagics
    from .pipelines import PipelineMagics
    from .schedules import ScheduleMagics
    from .services import ServiceMagics

    return (PipelineMagics, ScheduleMagics, ServiceMagics, MonitorMagics, MlflowMagics)


def load_ipython_extension(ipython: Any) -> None:
    if getattr(ipython, _LOADED_ATTR, None):
        return
    from ..engine import warmup
    from ..engine.capture import install
    from ..workspace import get_workspace
    from .progress import install as install_progress

    workspace = get_workspace()
    workspace.namespace = ipython.user_ns
    _point_mlflow_at(ipython, workspace.home)
    # Background runs print into their run's log, never into the cell the user is running.
    install()
    install_progress()
    # No workspace is pinned: each call acts on the default one (see CtcdMagics).
    instances = [cls(ipython) for cls in _magics()]
    for instance in instances:
        ipython.register_magics(instance)
    setattr(ipython, _LOADED_ATTR, instances)
    if workspace.tracking:
        # The first run would pay for importing MLflow: start it now, on a daemon thread, as
        # the last thing (nothing here waits for it).
        warmup.start()


def unload_ipython_extension(ipython: Any) -> None:
    instances = getattr(ipython, _LOADED_ATTR, None)
    if not instances:
        return
    from ..engine.capture import uninstall
    from ..workspace import get_workspace

    get_workspace().stop_scheduling()
    manager = ipython.magics_manager
    for instance in instances:
        for kind, names in instance.magics.items():
            for name in names:
                manager.magics[kind].pop(name, None)
        manager.registry.pop(type(instance).__name__, None)
    uninstall()
    uri = getattr(ipython, _URI_ATTR, None)
    if uri is not None and os.environ.get("MLFLOW_TRACKING_URI") == uri:
        del os.environ["MLFLOW_TRACKING_URI"]
    setattr(ipython, _URI_ATTR, None)
    setattr(ipython, _LOADED_ATTR, None)
