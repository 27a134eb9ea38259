"""MLFlowDeploymentService against its real model server (and the stock `mlflow models serve`
option) with a SQLite MLflow store."""

from __future__ import annotations

import os
import signal

import numpy as np
import psutil
import pytest
from service_helpers import kill_recorded, wait_for

from ctcd_jupyter.errors import PredictionError, ServiceStartError
from ctcd_jupyter.services import (
    MLFlowDeploymentService,
    ServiceState,
    get_service,
    process,
    services,
)


@pytest.fixture(scope="module")
def served(tmp_path_factory, mlflow_model):
    """One healthy one-worker server shared by the prediction tests of this module."""
    home = tmp_path_factory.mktemp("served-home")
    svc = MLFlowDeploymentService("iris", mlflow_model["model_uri"], home=home,
                                  tracking_uri=mlflow_model["tracking_uri"])
    try:
        svc.start(timeout=120)
        yield svc
    finally:
        svc.stop(timeout=10)
        kill_recorded(home)


def test_serves_and_reports(served, mlflow_model):
    assert served.status is ServiceState.ACTIVE and served.is_running
    assert served.endpoint == f"http://127.0.0.1:{served.port}/invocations"
    assert served.model_uri == mlflow_model["model_uri"] and served.workers == 1
    assert served.model_version == "1"
    assert "Uvicorn running" in served.logs(tail=200)
    assert repr(served).startswith("<MLFlowDeploymentService 'iris' ACTIVE http://127.0.0.1:")
    # The command is the ctcd model server, bound to loopback as configured.
    # (a server forked by the warm process writes the same command line over its own)
    cmd = psutil.Process(served.pid).cmdline()
    while not cmd[-1]:
        cmd.pop()
    assert cmd[1].endswith("ctcd_jupyter/model_server/serve.py") and cmd[2:] == [str(served.folder)]
    token = served.folder / "control.token"
    assert token.stat().st_mode & 0o077 == 0


def test_stock_mlflow_models_serve_option(home, mlflow_env, iris):
    svc = MLFlowDeploymentService("stock", mlflow_env["model_uri"], server="mlflow")
    svc.start(timeout=120)
    cmd = psutil.Process(svc.pid).cmdline()
    assert cmd[cmd.index("serve"):] == [
        "serve", "-m", mlflow_env["model_uri"], "--env-manager", "local", "-h", "127.0.0.1",
        "-p", str(svc.port), "--workers", "1"]
    for _ in range(2):  # the signature lookup is cached without replacing the method
        np.testing.assert_array_equal(svc.predict(iris.head(2).to_numpy()), [0, 0])
    svc.stop()


def test_predict_accepts_common_inputs(served, iris):
    expected = np.array([0, 0, 0])
    rows = iris.head(3)
    for data in (rows, rows.to_numpy(), rows.to_dict("records"), rows.to_dict("list"),
                 rows.to_numpy().tolist()):
        np.testing.assert_array_equal(served.predict(data), expected)
    np.testing.assert_array_equal(served.predict(rows.iloc[0].to_dict()), [0])


@pytest.mark.parametrize("bad, message", [
    ("missing", "sepal length"),
    ("text", "convert"),
    ("empty", ""),
])
def test_bad_input_is_prediction_error_and_server_stays_up(served, iris, bad, message):
    data = {"missing": lambda: iris.head(1).drop(columns=["sepal length (cm)"]),
            "text": lambda: iris.head(1).astype(object).assign(**{"sepal length (cm)": "abc"}),
            "empty": lambda: iris.head(0)}[bad]()
    with pytest.raises(PredictionError) as info:
        served.predict(data)
    assert info.value.status_code == 400
    assert info.value.server_message and message in info.value.server_message
    assert served.status is ServiceState.ACTIVE
    np.testing.assert_array_equal(served.predict(iris.head(1)), [0])


def test_kill_9_server_then_restart(home, mlflow_env, iris):
    svc = MLFlowDeploymentService("iris", mlflow_env["model_uri"])
    svc.start(timeout=120)
    os.kill(svc.pid, signal.SIGKILL)
    # the kill lands a moment later (longer for a server forked by the warm process, whose
    # shared pages are unmapped): between, it "runs but fails its health check"
    wait_for(lambda: svc.status is ServiceState.ERROR and "exited" in (svc.last_error or ""),
             10, "ERROR after kill -9, saying it exited")
    svc.restart(timeout=120)
    assert svc.status is ServiceState.ACTIVE
    np.testing.assert_array_equal(svc.predict(iris.head(1)), [0])
    svc.stop()


def test_two_workers_and_kill_9_of_the_supervisor_leaves_no_worker(home, mlflow_env, iris):
    svc = MLFlowDeploymentService("iris2", mlflow_env["model_uri"], workers=2)
    svc.start(timeout=120)
    np.testing.assert_array_equal(svc.predict(iris.head(2)), [0, 0])
    port = svc.port
    workers = [p for p in process.group_members(svc._process) if p.pid != svc.pid]
    assert len(workers) >= 3  # log runner, two workers (and multiprocessing's tracker)
    os.kill(svc.pid, signal.SIGKILL)  # only the uvicorn supervisor
    wait_for(lambda: svc.status is ServiceState.ERROR, 10, "ERROR after the parent died")
    svc.stop(timeout=5)
    assert process.port_is_free("127.0.0.1", port)
    assert not [p for p in workers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert get_service("iris2").status is ServiceState.INACTIVE


def test_model_that_fails_to_load(home, mlflow_env):
    svc = MLFlowDeploymentService("nomodel", "models:/no-such-model/7")
    with pytest.raises(ServiceStartError) as info:
        svc.start(timeout=120)
    assert "no-such-model" in str(info.value) and len(str(info.value).splitlines()) == 1
    assert "no-such-model" in info.value.log_tail
    assert info.value.returncode not in (None, 0)
    assert svc.status is ServiceState.ERROR
    assert services() == []  # a first start that never served leaves no service (issue 15.7)
    assert svc._process is None
