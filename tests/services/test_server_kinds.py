"""The program that serves is a server kind chosen once (services/server_kinds.py): the service
never branches on it, an unknown one is a one-line error, and the stock `mlflow models serve`
swaps by the daemon's generic blue-green handover."""

from __future__ import annotations

import ast
import inspect
import threading

import numpy as np
import psutil
import pytest

from ctcd_jupyter.errors import PredictionError, ServiceSpecError
from ctcd_jupyter.services import (
    MLFlowDeploymentService,
    ServiceState,
    get_service,
    mlflow_serving,
    model_versions,
    server_kinds,
)


def test_an_unknown_server_is_a_one_line_error_naming_the_kinds(home, mlflow_env):
    with pytest.raises(ServiceSpecError) as info:
        MLFlowDeploymentService("typo", mlflow_env["model_uri"], server="mlfow")
    message = str(info.value)
    assert "\n" not in message
    assert "no server named 'mlfow'" in message and "did you mean 'mlflow'" in message
    assert "known: ctcd, mlflow" in message


def test_the_service_never_branches_on_its_server_kind():
    for module in (mlflow_serving, model_versions):
        source = inspect.getsource(module)
        assert "_stock" not in source
        tree = ast.parse(source)
        compared = [ast.unparse(node) for node in ast.walk(tree) if isinstance(node, ast.Compare)
                    and any(isinstance(c, ast.Constant) and c.value in ("mlflow", "ctcd")
                            for c in [node.left, *node.comparators])]
        assert compared == [], f"{module.__name__} branches on the kind: {compared}"


def test_a_kind_uses_only_the_internals_it_documents():
    tree = ast.parse(inspect.getsource(server_kinds))
    private = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
               and isinstance(node.value, ast.Name) and node.value.id == "svc"
               and node.attr.startswith("_")}
    documented = {"_control", "_swap_in_place", "_runtime", "_server_log_config", "_env"}
    assert private <= documented, private - documented
    for name in documented & private:
        assert f"`{name}`" in server_kinds.__doc__


def test_the_stock_server_swaps_by_a_handover_without_failed_requests(home, mlflow_env, iris):
    svc = MLFlowDeploymentService("stock", mlflow_env["model_uri"], server="mlflow")
    assert svc.server is server_kinds.SERVER_KINDS["mlflow"]
    svc.start(timeout=120)
    old_pid, old_port = svc.pid, svc.port
    row = iris.head(1).to_numpy()
    failures: list[Exception] = []
    answered = [0]
    stop = threading.Event()

    def load() -> None:
        client = get_service("stock", home)  # another object, as another process would
        while not stop.is_set():
            try:
                np.testing.assert_array_equal(client.predict(row), [0])
                answered[0] += 1
            except Exception as exc:
                failures.append(exc)

    thread = threading.Thread(target=load)
    thread.start()
    try:
        # a probe that fails: the second server is stopped, the first keeps serving
        with pytest.raises(PredictionError):
            svc.swap_model(mlflow_env["model_uri"], probe=iris.head(1).drop(
                columns=["sepal length (cm)"]), timeout=120)
        assert (svc.pid, svc.port) == (old_pid, old_port)
        svc.swap_model(mlflow_env["model_uri"], probe=iris.head(2), timeout=120)
    finally:
        stop.set()
        thread.join(60)
    assert failures == [] and answered[0] > 0
    assert svc.port != old_port and svc.pid != old_pid
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == "zombie"
    assert svc.status is ServiceState.ACTIVE
    np.testing.assert_array_equal(svc.predict(iris.head(2).to_numpy()), [0, 0])
    svc.stop()
