"""The public surface: what `import ctcd_jupyter` exports, and what it must not import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import ctcd_jupyter

HEAVY = ("mlflow", "IPython", "ipywidgets", "jupyter_server", "pandas", "numpy", "sklearn",
         "prefect", "requests", "psutil", "uvicorn", "http.client", "sqlite3",
         # the package's own layers: imported on first use of a name that needs them
         "ctcd_jupyter.services", "ctcd_jupyter.deployment", "ctcd_jupyter.engine",
         "ctcd_jupyter.schedules", "ctcd_jupyter.workspace")


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("before", ["", "import IPython; "], ids=["python", "in IPython"])
def test_import_is_light(before):
    # in IPython, the import also installs the notebook's progress line: still light
    heavy = [m for m in HEAVY if m not in before]
    code = (f"import sys, json; {before}import ctcd_jupyter; "
            f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))")
    assert json.loads(_fresh(code)) == []


def test_lazy_names_resolve_and_services_stays_the_function():
    code = ("import ctcd_jupyter.services, ctcd_jupyter as c; "
            "print(c.services.__module__, c.Pipeline.__name__, c.mlflow_deploy.__name__, "
            "'Pipeline' in dir(c))")
    assert _fresh(code).split() == ["ctcd_jupyter.services.registry", "Pipeline",
                                    "mlflow_deploy", "True"]


def test_all_is_pinned():
    assert sorted(ctcd_jupyter.__all__) == sorted(EXPECTED)
    for name in ctcd_jupyter.__all__:
        assert hasattr(ctcd_jupyter, name), name


def test_errors_share_one_root_and_resemble_builtins():
    assert issubclass(ctcd_jupyter.StepDefinitionError, (ctcd_jupyter.CtcdError, ValueError))
    assert issubclass(ctcd_jupyter.MissingInputsError, ctcd_jupyter.PipelineDefinitionError)
    assert issubclass(ctcd_jupyter.StepError, RuntimeError)
    assert issubclass(ctcd_jupyter.CtcdTimeoutError, TimeoutError)
    assert issubclass(ctcd_jupyter.PortInUseError, OSError)
    for name in ctcd_jupyter.__all__:
        obj = getattr(ctcd_jupyter, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, ctcd_jupyter.CtcdError), name


EXPECTED = [
    "ArtifactError", "BaseService", "CtcdError", "CtcdTimeoutError", "DeploymentError",
    "LocalDaemonService", "MLFlowDeployerConfig", "MLFlowDeploymentService",
    "MissingInputsError", "ParameterError", "Pipeline", "PipelineDefinitionError",
    "PortInUseError", "PredictionError", "Run", "RunState", "Schedule", "ScheduleError",
    "ServiceError", "ServiceNotFoundError", "ServiceSpecError", "ServiceStartError",
    "ServiceState", "ServiceStopError", "StateError", "Step", "StepDefinitionError", "StepError",
    "StepRun",
    "StepState", "TrackingError", "Workspace", "__version__", "better_than_champion",
    "current_run", "deployments", "export_pipeline", "get_pipeline", "get_service", "get_workspace",
    "load_ipython_extension", "log_metric", "mlflow_deploy", "mlflow_deployer_step", "runs",
    "services", "set_workspace", "threshold", "unload_ipython_extension",
]


def test_state_enums_share_one_base_and_read_as_their_values():
    from ctcd_jupyter.enums import StrEnum
    from ctcd_jupyter.identity import Liveness
    from ctcd_jupyter.schedules.records import ScheduleState

    for cls in (ctcd_jupyter.RunState, ctcd_jupyter.StepState, ctcd_jupyter.ServiceState,
                ScheduleState, Liveness):
        assert issubclass(cls, StrEnum) and "__str__" not in vars(cls), cls
        for member in cls:
            assert str(member) == f"{member}" == f"{member:>1}" == member.value
