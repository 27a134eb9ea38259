"""The prediction log against a real model server: every answer logged off the request path,
read back by `svc.predictions()`, labels joined from Python and over HTTP from another process,
rows surviving kill -9, an unwritable log folder never failing a request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest
import requests
from service_helpers import kill_recorded, wait_for

from ctcd_jupyter.services import MLFlowDeploymentService, process


@pytest.fixture(scope="module")
def served(tmp_path_factory, mlflow_model):
    home = tmp_path_factory.mktemp("log-home")
    svc = MLFlowDeploymentService("iris", mlflow_model["model_uri"], home=home,
                                  tracking_uri=mlflow_model["tracking_uri"])
    try:
        svc.start(timeout=120)
        yield svc
    finally:
        svc.stop(timeout=10)
        kill_recorded(home)


def post(svc, body, request_id=None, path="/invocations"):
    headers = {"Content-Type": "application/json"}
    if request_id:
        headers["X-Request-Id"] = request_id
    return requests.post(f"http://127.0.0.1:{svc.port}{path}", data=json.dumps(body),
                         headers=headers, timeout=30)


def rows_body(iris, n):
    return {"dataframe_split": json.loads(iris.head(n).to_json(orient="split", index=False))}


def rows_when(read, enough, what):
    """The DataFrame `read()` returns once `enough(frame)` (polled with a deadline)."""
    found = []

    def ready():
        frame = read()
        if enough(frame):
            found.append(frame)
        return bool(found)

    wait_for(ready, 10, what)
    return found[0]


def logged(svc, request_id, rows=1):
    frame = rows_when(svc.predictions, lambda f: (f["request_id"] == request_id).sum() >= rows,
                      f"the row(s) of {request_id}")
    return frame[frame["request_id"] == request_id]


def test_every_answer_is_logged_with_its_features(served, iris):
    one = post(served, rows_body(iris, 1), request_id="one-row")
    assert one.status_code == 200 and one.headers["X-Request-Id"] == "one-row"
    batch = served.predict(iris.iloc[[0, 60, 120]])
    rows = logged(served, "one-row")
    assert list(rows.columns[:10]) == ["request_id", "time", "service", "model_uri", "version",
                                       "arm", "status", "latency_ms", "prediction", "label"]
    row = rows.iloc[0]
    assert (row.service, row.version, row.arm, row.status) == ("iris", "1", "stable", 200)
    assert row.model_uri.startswith("models:/iris/1") and row.latency_ms > 0
    assert row.prediction == 0 and row.label is None
    assert row["sepal length (cm)"] == iris.iloc[0]["sepal length (cm)"]
    frame = rows_when(served.predictions, lambda f: len(f) >= 4, "the batch rows")
    last = frame.tail(3)
    assert last["request_id"].nunique() == 1 and list(last["prediction"]) == list(batch)
    assert list(last["petal width (cm)"]) == list(iris.iloc[[0, 60, 120]]["petal width (cm)"])
    # generated ids are echoed and logged the same; unnamed rows get x0..xN
    answer = post(served, {"inputs": iris.head(1).to_numpy().tolist()})
    assert logged(served, answer.headers["X-Request-Id"]).iloc[0]["x3"] == 0.2
    assert list(served.predictions(limit=2)["request_id"])[-1] == answer.headers["X-Request-Id"]
    # an error answer is logged with its status, no prediction
    bad = post(served, {"dataframe_split": {"columns": ["nope"], "data": [[1]]}}, "bad-one")
    assert bad.status_code == 400
    assert logged(served, "bad-one").iloc[0].status == 400
    status = served.server_status()["prediction_log"]
    assert status["enabled"] and status["dropped"] == 0 and status["written"] >= 4
    assert served.describe()["log_dropped"] == 0


def test_reading_filters(served, iris):
    post(served, rows_body(iris, 1), "filtered")
    logged(served, "filtered")
    assert len(served.predictions(limit=1)) == 1
    assert len(served.predictions(since="1h")) == len(served.predictions())
    assert served.predictions(until=0).empty and served.predictions(version="9").empty
    assert list(served.predictions(since="1h", limit=0).columns[:2]) == ["request_id", "time"]
    with pytest.raises(ValueError, match="duration back from now"):
        served.predictions(since="yesterday")


def test_labels_from_python_count_unknown_and_replaced(served, iris):
    post(served, rows_body(iris, 1), "lab-1")
    post(served, rows_body(iris, 2), "lab-batch")
    result = served.log_labels({"lab-1": 0, "nobody": 1, "lab-batch": [1, 2]})
    assert (result.joined, result.unknown, result.replaced) == (2, 1, 0)
    assert result.unknown_ids == ["nobody"]
    again = served.log_labels({"lab-1": 2})
    assert (again.joined, again.replaced) == (1, 1) and "last one is kept" in str(again)
    wrong = served.log_labels({"lab-batch": [1, 2, 3]})
    assert wrong.invalid == 1 and wrong.joined == 0
    frame = served.predictions()
    assert list(frame[frame.request_id == "lab-1"]["label"]) == [2]
    assert list(frame[frame.request_id == "lab-batch"]["label"]) == [1, 2]


def test_labels_over_http_from_another_process(served, iris):
    post(served, rows_body(iris, 3), "http-batch")
    code = ("import json, sys, requests\n"
            "url = sys.argv[1]\n"
            "a = requests.post(url, json={'request_id': 'http-batch', 'label': 1}).json()\n"
            "b = requests.post(url, json={'labels': [{'request_id': 'http-batch', 'label': 2},"
            " {'request_id': 'ghost', 'label': 0}]}).json()\n"
            "print(json.dumps([a, b]))\n")
    out = subprocess.run([sys.executable, "-c", code,
                          f"http://127.0.0.1:{served.port}/feedback"],
                         capture_output=True, text=True, timeout=60, check=True)
    first, second = json.loads(out.stdout)
    assert (first["joined"], first["unknown"]) == (1, 0)
    assert (second["joined"], second["unknown"], second["replaced"]) == (1, 1, 1)
    rows = served.predictions()
    assert list(rows[rows.request_id == "http-batch"]["label"]) == [2, 2, 2]


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"request_id": "x"}',
                                  b'{"labels": []}', b'{"request_id": 5, "label": 1}',
                                  b'{"labels": [{"request_id": "a", "label": 1}, 7]}'])
def test_malformed_feedback_is_a_400_and_writes_nothing(served, body):
    before = len(served.prediction_log.labels("iris"))
    answer = requests.post(f"http://127.0.0.1:{served.port}/feedback", data=body, timeout=30)
    assert answer.status_code == 400
    error = answer.json()
    assert error["error_code"] == "BAD_REQUEST" and "malformed /feedback body" in error["message"]
    assert len(served.prediction_log.labels("iris")) == before
    assert requests.get(f"http://127.0.0.1:{served.port}/ping", timeout=10).ok


def test_flushed_rows_survive_kill_9(home, mlflow_model, iris):
    svc = MLFlowDeploymentService("killed", mlflow_model["model_uri"],
                                  tracking_uri=mlflow_model["tracking_uri"])
    svc.start(timeout=120)
    for i in range(5):
        post(svc, rows_body(iris, 1), f"before-kill-{i}")
    svc._control("POST", "/ctcd/flush-log", {})
    os.killpg(svc._process.sid, signal.SIGKILL)
    sp = svc._process
    wait_for(lambda: process.liveness(sp.main, sp.sid) != process.Liveness.ALIVE, 10,
             "the server to die")
    frame = svc.predictions()
    assert sorted(frame["request_id"]) == [f"before-kill-{i}" for i in range(5)]
    svc.stop(force=True)
    svc.start(timeout=120)  # the log reopens: new rows join the old ones
    post(svc, rows_body(iris, 1), "after-restart")
    svc.stop()  # a graceful stop writes what is queued
    assert list(svc.predictions()["request_id"])[-1] == "after-restart"
    assert len(svc.predictions()) == 6


def test_an_unwritable_log_never_fails_a_request(home, mlflow_model, iris, tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the log folder should be")  # unwritable even for root
    svc = MLFlowDeploymentService("ro", mlflow_model["model_uri"],
                                  tracking_uri=mlflow_model["tracking_uri"],
                                  prediction_log=str(blocker / "log"))
    svc.start(timeout=120)
    answers = [post(svc, rows_body(iris, 1)) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    status = wait_for(lambda: (lambda s: s if s["last_error"] else None)(
        svc.server_status()["prediction_log"]), 10, "the write failure")
    assert status["buffered"] == 3 and "Not a directory" in status["last_error"]
    blocker.unlink()  # the folder can be written again: the buffered rows are written
    wait_for(lambda: len(svc.predictions()) == 3, 10, "the buffered rows")
    assert svc.server_status()["prediction_log"]["last_error"] is None
    svc.stop()


def test_log_off_and_options(home, mlflow_model, iris):
    with pytest.raises(ValueError, match="log_sample must be in"):
        MLFlowDeploymentService("bad", mlflow_model["model_uri"], log_sample=0)
    svc = MLFlowDeploymentService("off", mlflow_model["model_uri"],
                                  tracking_uri=mlflow_model["tracking_uri"],
                                  log_predictions=False)
    svc.start(timeout=120)
    post(svc, rows_body(iris, 1), "unlogged")
    assert svc.server_status()["prediction_log"] == {"enabled": False}
    feedback = post(svc, {"request_id": "unlogged", "label": 1}, path="/feedback")
    assert feedback.status_code == 404
    assert svc.predictions().empty
    svc.stop()
    hashed = MLFlowDeploymentService("hashed", mlflow_model["model_uri"],
                                     tracking_uri=mlflow_model["tracking_uri"], log_inputs=False)
    hashed.start(timeout=120)
    post(hashed, rows_body(iris, 1), "no-inputs")
    row = logged(hashed, "no-inputs").iloc[0]
    assert len(row["inputs_hash"]) == 32 and "sepal length (cm)" not in row.index
    hashed.stop()


def test_two_workers_log_every_answer_and_status_sums_them(home, mlflow_model, iris):
    svc = MLFlowDeploymentService("pair", mlflow_model["model_uri"], workers=2,
                                  tracking_uri=mlflow_model["tracking_uri"])
    svc.start(timeout=120)
    for i in range(12):  # a new connection each: either worker may answer
        answer = requests.post(f"http://127.0.0.1:{svc.port}/invocations",
                               json=rows_body(iris, 1), headers={"X-Request-Id": f"w-{i}"},
                               timeout=30)
        assert answer.status_code == 200
    wait_for(lambda: len(svc.predictions()) == 12, 10, "12 rows from two workers")
    assert len(list((svc.folder / "prediction-log").glob("*.json"))) >= 1
    wait_for(lambda: svc.server_status()["prediction_log"]["written"] == 12, 10,
             "both workers' counts in the status")
    svc.stop()
