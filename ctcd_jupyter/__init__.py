"""ctcd_jupyter: Continuous Training and Continuous Deployment of ML models from a notebook.

`%load_ext ctcd_jupyter` adds the magics; everything here also works from plain Python.
Importing this package is light: the names below are imported on first use (module
`__getattr__`), and mlflow, IPython, ipywidgets and jupyter_server only where they are used.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from .errors import (
    ArtifactError,
    CtcdError,
    CtcdTimeoutError,
    DeploymentError,
    MissingInputsError,
    ParameterError,
    PipelineDefinitionError,
    PortInUseError,
    PredictionError,
    ScheduleError,
    ServiceError,
    ServiceNotFoundError,
    ServiceSpecError,
    ServiceStartError,
    ServiceStopError,
    StateError,
    StepDefinitionError,
    StepError,
    TrackingError,
)

if TYPE_CHECKING:  # what the lazy names are, for type checkers and editors
    from pathlib import Path

    from .criteria import better_than_champion, threshold
    from .deployment import (
        MLFlowDeployerConfig,
        deployments,
        mlflow_deploy,
        mlflow_deployer_step,
    )
    from .engine.executor import current_run, log_metric
    from .engine.pipeline import Pipeline
    from .engine.run import Run, RunState, StepRun, StepState
    from .engine.steps import Step
    from .schedules.trigger import Schedule
    from .services import (
        BaseService,
        LocalDaemonService,
        MLFlowDeploymentService,
        ServiceState,
        get_service,
        services,
    )
    from .workspace import Workspace, get_workspace, set_workspace

__version__ = "0.1.0"

# name -> the module that defines it, imported on first access
_LAZY = {
    "better_than_champion": "criteria", "threshold": "criteria",
    "MLFlowDeployerConfig": "deployment", "deployments": "deployment",
    "mlflow_deploy": "deployment", "mlflow_deployer_step": "deployment",
    "current_run": "engine.executor", "log_metric": "engine.executor",
    "Pipeline": "engine.pipeline", "Step": "engine.steps",
    "Run": "engine.run", "RunState": "engine.run", "StepRun": "engine.run",
    "StepState": "engine.run", "Schedule": "schedules.trigger",
    "BaseService": "services", "LocalDaemonService": "services",
    "MLFlowDeploymentService": "services", "ServiceState": "services",
    "get_service": "services", "services": "services",
    "Workspace": "workspace", "get_workspace": "workspace", "set_workspace": "workspace",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ctcd_jupyter' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


class _Package(types.ModuleType):
    """Keeps `ctcd_jupyter.services` the function: importing the `services` subpackage (which
    happens lazily now, at any time) would otherwise bind the package's attribute to it."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "services" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

if "IPython" in sys.modules:  # imported in IPython: progress lines update in place
    from .magics.progress import install as _install_progress

    _install_progress()

__all__ = [
    "ArtifactError",
    "BaseService",
    "CtcdError",
    "CtcdTimeoutError",
    "DeploymentError",
    "LocalDaemonService",
    "MLFlowDeployerConfig",
    "MLFlowDeploymentService",
    "MissingInputsError",
    "ParameterError",
    "Pipeline",
    "PipelineDefinitionError",
    "PortInUseError",
    "PredictionError",
    "Run",
    "RunState",
    "Schedule",
    "ScheduleError",
    "ServiceError",
    "ServiceNotFoundError",
    "ServiceSpecError",
    "ServiceStartError",
    "ServiceState",
    "ServiceStopError",
    "StateError",
    "Step",
    "StepDefinitionError",
    "StepError",
    "StepRun",
    "StepState",
    "TrackingError",
    "Workspace",
    "__version__",
    "better_than_champion",
    "current_run",
    "deployments",
    "export_pipeline",
    "get_pipeline",
    "get_service",
    "get_workspace",
    "load_ipython_extension",
    "log_metric",
    "mlflow_deploy",
    "mlflow_deployer_step",
    "runs",
    "services",
    "set_workspace",
    "threshold",
    "unload_ipython_extension",
]


def get_pipeline(name: str) -> Pipeline:
    """The pipeline called `name` in this process's workspace."""
    from .workspace import get_workspace

    return get_workspace().get_pipeline(name)


def runs(pipeline: str | None = None, limit: int | None = None, *,
         include_remote: bool = False) -> list[Run]:
    """Past runs, newest first (from the state store: includes earlier kernels' runs);
    `include_remote=True` adds the runs the MLflow tracking server has from other machines."""
    from .workspace import get_workspace

    workspace = get_workspace()
    found = workspace.runs(pipeline, limit)
    if include_remote:
        from .portable.remote import with_remote_runs  # mlflow, only when asked

        found = with_remote_runs(workspace, found, pipeline, limit)
    return found


def export_pipeline(pipeline: Pipeline | str, path: str | Path | None = None,
                    **options: Any) -> Path:
    """Write `pipeline` as one self-contained Python file (see `ctcd_jupyter.portable.export`)."""
    from .portable.export import export_pipeline as export

    return export(pipeline, path, **options)


def _jupyter_labextension_paths() -> list[dict]:
    # For `jupyter labextension develop`; installs copy it via the wheel's shared-data.
    return [{"src": "labextension", "dest": "ctcd-jupyter-labextension"}]


def _jupyter_server_extension_points() -> list[dict]:
    # The server extension (ctcd_jupyter/server) is enabled by jupyter-config on install.
    return [{"module": "ctcd_jupyter.server"}]


def load_ipython_extension(ipython: Any) -> None:
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as unload

    unload(ipython)
