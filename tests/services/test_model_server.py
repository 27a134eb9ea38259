"""The ctcd model server: real servers on 127.0.0.1, a temporary SQLite MLflow store, real
swaps, an alias moved from another process, rollback, refused candidates, two workers, kill -9.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import requests
from service_helpers import wait_for

from ctcd_jupyter.errors import PredictionError
from ctcd_jupyter.services import MLFlowDeploymentService, ServiceState, process
from ctcd_jupyter.services.mlflow_serving import ModelSwapError

REGISTER = """
import json, os, sys
import mlflow, mlflow.pyfunc, mlflow.sklearn
from mlflow import MlflowClient
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
folder = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
X, y = load_iris(return_X_y=True, as_frame=True)
exp = mlflow.create_experiment("model-server", artifact_location=f"{folder}/artifacts")

class FailsWhenServed(mlflow.pyfunc.PythonModel):
    def __init__(self):
        self.pid = os.getpid()
    def predict(self, context, model_input, params=None):
        if os.getpid() != self.pid:
            raise RuntimeError("this model fails when served")
        return [0] * len(model_input)

with mlflow.start_run(experiment_id=exp):
    for C in (0.01, 1.0):
        mlflow.sklearn.log_model(LogisticRegression(C=C, max_iter=300).fit(X, y), name="m",
                                 registered_model_name="iris", pip_requirements=[],
                                 serialization_format="cloudpickle", input_example=X.head(2))
    mlflow.pyfunc.log_model(name="bad", python_model=FailsWhenServed(), pip_requirements=[],
                            registered_model_name="iris", input_example=X.head(2))
    mlflow.sklearn.log_model(LogisticRegression(max_iter=300).fit(X.to_numpy(), y), name="t",
                             registered_model_name="tensor", pip_requirements=[],
                             serialization_format="cloudpickle",
                             input_example=X.to_numpy()[:2])
MlflowClient().set_registered_model_alias("iris", "champion", "1")
print(json.dumps({"tracking_uri": f"sqlite:///{folder}/mlflow.db"}))
"""

MOVE_ALIAS = ("import sys; from mlflow import MlflowClient; "
              "MlflowClient(sys.argv[1]).set_registered_model_alias('iris', 'champion', "
              "sys.argv[2])")

CLIENT = """
import json, sys, time, requests
url, stop = sys.argv[1], sys.argv[2]
body = json.dumps({"dataframe_split": {"columns": json.loads(sys.argv[3]),
                                       "data": [[5.1, 3.5, 1.4, 0.2]]}})
session, ok, failed, versions = requests.Session(), 0, 0, set()
import os
while not os.path.exists(stop):
    try:
        r = session.post(url, data=body, headers={"Content-Type": "application/json"},
                         timeout=30)
        if r.status_code == 200 and r.headers.get("X-Request-Id"):
            ok += 1
            versions.add(r.headers["X-Model-Version"])
        else:
            failed += 1
    except Exception:
        failed += 1
print(json.dumps({"ok": ok, "failed": failed, "versions": sorted(versions)}))
"""


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> dict:
    """iris v1, v2 (good), v3 (raises when served; champion -> v1), tensor v1 (ndarray
    signature), in a temporary SQLite MLflow store."""
    folder = tmp_path_factory.mktemp("model-server-mlflow")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(REGISTER), str(folder)],
                         capture_output=True, text=True, timeout=300, cwd=folder)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _version_of(url: str, body: dict) -> str:
    answer = requests.post(url, json=body, timeout=30)  # a new connection: any worker
    assert answer.status_code == 200, answer.text
    return answer.headers["X-Model-Version"]


def test_swap_under_load_follow_rollback_refusals_and_kill_9(home, registry, iris, tmp_path):
    tracking = registry["tracking_uri"]
    svc = MLFlowDeploymentService("iris", "models:/iris@champion", tracking_uri=tracking,
                                  access_log=False)
    svc.start(timeout=120)
    port, endpoint = svc.port, svc.endpoint
    assert svc.model_version == "1"
    answer = requests.post(endpoint, json={"dataframe_split": json.loads(
        iris.head(1).to_json(orient="split", index=False))}, timeout=30)
    assert answer.headers["X-Model-Uri"] == "models:/iris/1"
    assert answer.headers["X-Model-Version"] == "1" and len(answer.headers["X-Request-Id"]) > 8
    # MLflow's own protocol and error JSON, unchanged
    bad = requests.post(endpoint, json={"dataframe_split": {"columns": ["x"], "data": [[1]]}},
                        timeout=30)
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert requests.get(endpoint.replace("/invocations", "/version"), timeout=5).ok
    assert requests.get(endpoint.replace("/invocations", "/ctcd/status"),
                        timeout=5).status_code == 403  # no token

    # 4 threads and 1 other process predict throughout
    errors, seen, stop = [], set(), threading.Event()
    raw_body = json.dumps({"dataframe_split": {"columns": list(iris.columns),
                                               "data": [[5.1, 3.5, 1.4, 0.2]]}})

    def client():
        while not stop.is_set():
            try:
                svc.predict(iris.head(1))
                seen.add(svc._session().post(endpoint, data=raw_body,
                                             headers={"Content-Type": "application/json"},
                                             timeout=30).headers["X-Model-Version"])
            except Exception as exc:
                errors.append(exc)

    stop_file = tmp_path / "stop"
    other = subprocess.Popen([sys.executable, "-c", CLIENT, endpoint, str(stop_file),
                              json.dumps(list(iris.columns))], stdout=subprocess.PIPE,
                             text=True)
    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        svc.swap_model("models:/iris/2")
        assert svc.model_version == "2" and svc.port == port
        # the alias moved by another process, with a plain MlflowClient
        subprocess.run([sys.executable, "-c", MOVE_ALIAS, tracking, "2"], check=True)
        wait_for(lambda: svc.server_status()["alias_version"] == "2", 30, "alias seen at v2")
        subprocess.run([sys.executable, "-c", MOVE_ALIAS, tracking, "1"], check=True)
        wait_for(lambda: svc.model_version == "1", 30, "the server to follow the alias to v1")
        # refused candidates: raises on its probe, does not exist
        with pytest.raises(ModelSwapError, match="iris/3 was not served: the probe"):
            svc.swap_model("models:/iris/3")
        with pytest.raises(ModelSwapError, match="cannot load models:/iris/99"):
            svc.swap_model("models:/iris/99")
        assert svc.model_version == "1" and "iris/99" in svc.last_error
        assert svc.status is ServiceState.ACTIVE
        svc.rollback()
        assert svc.model_version == "2"
    finally:
        stop.set()
        stop_file.write_text("")
        for t in threads:
            t.join(60)
        out, _ = other.communicate(timeout=60)
    assert errors == []
    counts = json.loads(out)
    assert counts["failed"] == 0 and counts["ok"] > 0
    assert {"1", "2"} <= seen and "3" not in seen | set(counts["versions"])
    assert svc.port == port and svc.endpoint == endpoint

    from mlflow import MlflowClient

    client_ = MlflowClient(tracking)
    assert client_.get_model_version("iris", "3").tags["ctcd.deploy"] == "failed"
    assert "fails when served" in client_.get_model_version("iris", "3").tags[
        "ctcd.deploy.reason"]
    assert str(client_.get_model_version_by_alias("iris", "champion").version) == "2"
    history = svc.history()
    assert [(h["version"], h["why"]) for h in history] == [
        ("1", "started"), ("2", "deployed"), ("1", "followed the alias"), ("2", "rolled back")]
    assert history[-1]["served_until"] is None
    assert history[0]["served_until"] == history[1]["served_from"]

    os.kill(svc.pid, signal.SIGKILL)
    wait_for(lambda: svc.status is ServiceState.ERROR, 10, "ERROR after kill -9")
    svc.restart(timeout=120)
    assert svc.port == port and svc.model_version == "2"  # what the alias says
    svc.stop()


def test_two_workers_switch_and_tensor_signature(home, registry, iris):
    svc = MLFlowDeploymentService("w2", "models:/tensor/1", workers=2,
                                  tracking_uri=registry["tracking_uri"], access_log=False)
    svc.start(timeout=180)
    rows = iris.head(3).to_numpy()
    # an unnamed (tensor) signature: ndarray rows predicted again and again
    for _ in range(3):
        np.testing.assert_array_equal(svc.predict(rows), [0, 0, 0])
    wait_for(lambda: len(svc.server_status()["workers"]) == 2, 60, "both workers up")
    port = svc.port
    body = {"dataframe_split": json.loads(iris.head(1).to_json(orient="split", index=False))}
    svc.swap_model("models:/iris/2")
    wait_for(lambda: all(w["version"] == "2" for w in svc.server_status()["workers"]), 30,
             "every worker to switch")
    assert {_version_of(svc.endpoint, body) for _ in range(20)} == {"2"}
    assert svc.port == port
    workers = [p for p in process.group_members(svc._process) if p.pid != svc.pid]
    os.kill(svc.pid, signal.SIGKILL)  # the uvicorn supervisor
    wait_for(lambda: svc.status is ServiceState.ERROR, 10, "ERROR after kill -9")
    wait_for(lambda: process.port_is_free("127.0.0.1", port), 10, "orphaned workers to exit")
    wait_for(lambda: not [p for p in workers if p.is_running() and p.status() != "zombie"], 10,
             "every process of the server to exit")
    svc.stop()


def test_predict_on_a_stopped_service_with_ndarray_twice(home, registry):
    # Used to replace _signature_columns with None in the instance: the second call raised
    # TypeError ('NoneType' object is not callable) instead of saying the server is down.
    svc = MLFlowDeploymentService("down", "models:/tensor/1",
                                  tracking_uri=registry["tracking_uri"])
    for _ in range(2):
        with pytest.raises(PredictionError, match="not reachable"):
            svc.predict(np.zeros((1, 4)))


def test_a_model_that_cannot_be_served_at_first_start(home, registry):
    svc = MLFlowDeploymentService("bad", "models:/iris/3", tracking_uri=registry["tracking_uri"])
    with pytest.raises(Exception, match=r"cannot serve: .*probe") as info:
        svc.start(timeout=120)
    assert len(str(info.value).splitlines()) == 1
    assert svc.status is ServiceState.ERROR and svc._process is None


def test_a_broken_alias_keeps_serving_shows_the_error_and_recovers(home, registry, iris):
    from mlflow import MlflowClient

    client = MlflowClient(registry["tracking_uri"])
    client.set_registered_model_alias("tensor", "live", "1")
    svc = MLFlowDeploymentService("live", "models:/tensor@live", poll_interval=0.2,
                                  tracking_uri=registry["tracking_uri"], access_log=False)
    svc.start(timeout=120)
    rows = iris.head(2).to_numpy()
    client.delete_registered_model_alias("tensor", "live")  # what deleting its version does
    wait_for(lambda: "following models:/tensor@live" in (svc.last_error or ""), 30,
             "the follower's error to show")
    assert "still serving models:/tensor/1" in svc.last_error
    assert svc.status is ServiceState.ACTIVE and svc.model_version == "1"
    np.testing.assert_array_equal(svc.predict(rows), [0, 0])
    client.set_registered_model_alias("tensor", "live", "1")
    wait_for(lambda: svc.last_error is None, 30, "the error to clear once the alias is back")
    np.testing.assert_array_equal(svc.predict(rows), [0, 0])
    svc.stop()
