"""Micro-batching under concurrent clients: a real ctcd server with the fast path, 12 clients on
their own keep-alive connections, each sending its own rows (1 to 3 per request) to a random
forest regression (float answers, one per row); every caller gets exactly its rows, equal to what
MLflow's own app answers for the same body alone; requests do share predicts; a client whose rows
break the predict (Infinity) gets MLflow's own 400, alone, while its neighbours in the batch get
theirs. A linear regression (whose last bits depend on the batch) is never batched.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import textwrap
import threading

import pytest
from service_helpers import kill_recorded

from ctcd_jupyter.services import MLFlowDeploymentService

REGISTER = """
import json, sys
import mlflow, mlflow.sklearn
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LinearRegression
folder = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
X, y = load_iris(return_X_y=True, as_frame=True)
exp = mlflow.create_experiment("micro-batch", artifact_location=f"{folder}/artifacts")
target = X.iloc[:, 2] * 1.3 + X.iloc[:, 0] * 0.37 + y
log = dict(pip_requirements=[], serialization_format="cloudpickle",
           signature=infer_signature(X, target.to_numpy()))
with mlflow.start_run(experiment_id=exp):
    mlflow.sklearn.log_model(RandomForestRegressor(20, random_state=0).fit(X, target),
                             name="forest", registered_model_name="forest", **log)
    mlflow.sklearn.log_model(LinearRegression().fit(X, target), name="linear",
                             registered_model_name="linear", **log)
print(json.dumps({"tracking_uri": f"sqlite:///{folder}/mlflow.db",
                  "columns": list(X.columns)}))
"""

CLIENTS, REQUESTS = 12, 25


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("micro-batch-mlflow")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(REGISTER), str(folder)],
                         capture_output=True, text=True, timeout=300, cwd=folder)
    assert out.returncode == 0, out.stderr[-3000:]
    registry = json.loads(out.stdout.strip().splitlines()[-1])
    home = tmp_path_factory.mktemp("micro-batch-home")
    common = dict(tracking_uri=registry["tracking_uri"], access_log=False, home=home)
    made = {"batch": MLFlowDeploymentService("batch", "models:/forest/1",
                                             env={"CTCD_BATCH_WAIT_MS": "2"}, **common),
            "mlflow": MLFlowDeploymentService("mlflow", "models:/forest/1",
                                              env={"CTCD_FAST_PATH": "0"}, **common)}
    try:
        for svc in made.values():
            svc.start(timeout=240)
        yield made, registry["columns"]
    finally:
        for svc in made.values():
            svc.stop(timeout=10)
        assert not kill_recorded(home)


def _body(columns: list[str], client: int, request: int) -> str:
    if client == 0 and request % 2:  # the bad neighbour: parses, then the predict refuses it
        rows = [[float("inf"), 3.0, 1.0, 0.2]]
    else:
        rows = [[4.0 + client * 0.1 + k * 0.01, 3.0 + request * 0.01, 1.0 + k, 0.2]
                for k in range(1 + (client + request) % 3)]
    return json.dumps({"dataframe_split": {"columns": columns, "data": rows}})


def _post(conn: http.client.HTTPConnection, body: str) -> tuple[int, bytes, dict]:
    conn.request("POST", "/invocations", body=body,
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    return response.status, response.read(), {k.lower(): v for k, v in response.getheaders()}


def test_concurrent_callers_get_exactly_their_rows_and_a_bad_one_fails_alone(servers):
    made, columns = servers
    reference = http.client.HTTPConnection("127.0.0.1", made["mlflow"].port, timeout=60)
    expected = {(c, r): _post(reference, _body(columns, c, r))[:2]
                for c in range(CLIENTS) for r in range(REQUESTS)}
    reference.close()
    assert {status for status, _ in expected.values()} == {200, 400}

    answers: dict = {}
    start = threading.Barrier(CLIENTS)

    def client(c: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", made["batch"].port, timeout=60)
        start.wait()
        for r in range(REQUESTS):
            answers[c, r] = _post(conn, _body(columns, c, r))
        conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(answers) == CLIENTS * REQUESTS
    wrong = [(key, answers[key][:2], expected[key]) for key in expected
             if answers[key][:2] != expected[key]]
    assert not wrong, wrong[:5]
    shared = [int(headers.get("x-ctcd-batch", 0)) for _, _, headers in answers.values()]
    assert max(shared) > 1, "no two requests ever shared a predict"
    good = [h for (c, r), (s, _, h) in answers.items() if s == 200]
    assert all(h.get("x-ctcd-path") == "fast" for h in good)
    bad = [answers[0, r] for r in range(1, REQUESTS, 2)]
    assert all(s == 400 and "x-ctcd-path" not in h for s, _, h in bad)


def test_a_linear_regression_is_never_batched(servers):
    made, columns = servers
    svc = made["batch"]
    svc.swap_model("models:/linear/1")
    shared: list = []

    def client(c: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", svc.port, timeout=60)
        for r in range(REQUESTS):
            status, _, headers = _post(conn, _body(columns, c + 1, r))
            shared.append((status, headers.get("x-ctcd-path"), headers.get("x-ctcd-batch")))
        conn.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    svc.swap_model("models:/forest/1")
    assert set(shared) == {(200, "fast", "1")}


def test_a_lone_request_is_not_kept_waiting_for_company(servers):
    made, columns = servers
    conn = http.client.HTTPConnection("127.0.0.1", made["batch"].port, timeout=60)
    for r in range(20):
        status, _, headers = _post(conn, _body(columns, 1, r))
        assert status == 200 and headers["x-ctcd-batch"] == "1"
    conn.close()
