"""MLflow's request timeout holds on the fast path too: a predict over `request_timeout` answers
MLflow's own 504 (status, body, content type, as MLflow's app answers it), and a slow model never
stops the server from answering other requests (its predicts move off the event loop)."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from service_helpers import kill_recorded

from ctcd_jupyter.services import MLFlowDeploymentService

REGISTER = """
import json, sys
import mlflow, mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
sys.path.insert(0, sys.argv[2])
from slow_classifier import SlowClassifier
folder = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
X, y = load_iris(return_X_y=True, as_frame=True)
exp = mlflow.create_experiment("timeouts", artifact_location=f"{folder}/artifacts")
with mlflow.start_run(experiment_id=exp):
    mlflow.sklearn.log_model(SlowClassifier(max_iter=300).fit(X, y), name="slow",
                             registered_model_name="slow", pip_requirements=[],
                             serialization_format="cloudpickle",
                             code_paths=[sys.argv[2] + "/slow_classifier.py"],
                             signature=infer_signature(X, y.to_numpy()))
print(json.dumps({"tracking_uri": f"sqlite:///{folder}/mlflow.db", "columns": list(X.columns)}))
"""
MODELS = Path(__file__).parent / "models"


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("timeout-mlflow")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(REGISTER), str(folder),
                          str(MODELS)], capture_output=True, text=True, timeout=300, cwd=folder)
    assert out.returncode == 0, out.stderr[-3000:]
    registry = json.loads(out.stdout.strip().splitlines()[-1])
    home = tmp_path_factory.mktemp("timeout-home")
    common = dict(tracking_uri=registry["tracking_uri"], access_log=False, home=home,
                  request_timeout=1)
    made = {"fast": MLFlowDeploymentService("fast", "models:/slow/1", **common),
            "mlflow": MLFlowDeploymentService("mlflow", "models:/slow/1", fast_path=False,
                                              **common)}
    try:
        for svc in made.values():
            svc.start(timeout=120)
        yield made, registry["columns"]
    finally:
        for svc in made.values():
            svc.stop(timeout=10)
        kill_recorded(home)


def _post(svc, columns, first: float, timeout: float = 30) -> tuple[int, bytes, dict, float]:
    body = json.dumps({"dataframe_split": {"columns": columns,
                                           "data": [[first, 3.5, 1.4, 0.2]]}})
    conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=timeout)
    started = time.monotonic()
    try:
        conn.request("POST", "/invocations", body=body,
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, data, headers, time.monotonic() - started
    finally:
        conn.close()


def _while_slow(svc, columns, slow_first: float) -> tuple[tuple, list[tuple[int, float]]]:
    """The answer to a slow request, and the (status, seconds) of quick requests sent while its
    predict runs (it sleeps `slow_first - 100` s; its answer comes at the 1 s timeout)."""
    slow: list = []
    thread = threading.Thread(target=lambda: slow.append(_post(svc, columns, slow_first)))
    busy_until = time.monotonic() + (slow_first - 100) * 0.9
    thread.start()
    quick = []
    while time.monotonic() < busy_until and len(quick) < 200:
        status, _, _, took = _post(svc, columns, 5.1)
        quick.append((status, took))
    thread.join(30)
    return slow[0], quick


def test_a_predict_over_the_timeout_answers_mlflows_504(servers):
    made, columns = servers
    fast = _post(made["fast"], columns, 5.1)
    assert fast[0] == 200 and fast[2].get("x-ctcd-path") == "fast"
    ours, mlflows = _post(made["fast"], columns, 103.0), _post(made["mlflow"], columns, 103.0)
    assert ours[0] == mlflows[0] == 504
    assert ours[1] == mlflows[1] == b"Request processing time exceeded limit"
    assert ours[2]["content-type"] == mlflows[2]["content-type"] == "application/json"
    assert ours[3] < 2.5  # answered at the timeout, not when the predict ended (3 s)


def test_a_slow_model_never_stops_the_server_from_answering(servers):
    made, columns = servers
    svc = made["fast"]
    for _ in range(60):  # quick predicts: the model proves quick and is predicted inline
        assert _post(svc, columns, 5.1)[0] == 200
    # the first slow predict on the event loop overruns: MLflow's 504 all the same, and the
    # model goes back to a worker thread
    assert _post(svc, columns, 101.5)[0] == 504
    (status, body, _, _), quick = _while_slow(svc, columns, 103.0)
    assert status == 504 and body == b"Request processing time exceeded limit"
    # the first quick request may have shared the slow one's predict (a batch answers
    # together); every later one is answered at once
    assert len(quick) >= 3 and all(s == 200 and took < 0.5 for s, took in quick[1:]), quick
