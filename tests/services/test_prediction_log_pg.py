"""The team backend of the prediction log: a real PostgreSQL started here (tests/beyond's
helper), written by a real model server, read and labelled from this process; and a PostgreSQL
that does not answer, which never fails a request."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import requests
from service_helpers import wait_for

from ctcd_jupyter.services import MLFlowDeploymentService, process

sys.path.insert(0, str(Path(__file__).parents[1] / "beyond"))
import servers


@pytest.fixture(scope="module")
def pg_url():
    with servers.postgres() as url:
        yield url


def post(svc, body, request_id):
    return requests.post(f"http://127.0.0.1:{svc.port}/invocations", data=json.dumps(body),
                         headers={"Content-Type": "application/json",
                                  "X-Request-Id": request_id}, timeout=30)


def split(iris, n):
    return {"dataframe_split": json.loads(iris.head(n).to_json(orient="split", index=False))}


def test_postgresql_round_trip(home, mlflow_model, iris, pg_url, monkeypatch):
    monkeypatch.setenv("CTCD_PREDICTION_LOG", pg_url)
    svc = MLFlowDeploymentService("team", mlflow_model["model_uri"],
                                  tracking_uri=mlflow_model["tracking_uri"])
    svc.start(timeout=120)
    assert post(svc, split(iris, 1), "pg-one").status_code == 200
    assert post(svc, split(iris, 2), "pg-batch").status_code == 200
    wait_for(lambda: len(svc.predictions()) == 3, 10, "three rows in PostgreSQL")
    frame = svc.predictions()
    assert list(frame.columns[:10]) == ["request_id", "time", "service", "model_uri",
                                        "version", "arm", "status", "latency_ms",
                                        "prediction", "label"]
    assert list(frame["request_id"]) == ["pg-one", "pg-batch", "pg-batch"]
    assert list(frame["prediction"]) == [0, 0, 0] and set(frame["version"]) == {"1"}
    first = iris["sepal length (cm)"].tolist()
    assert frame["sepal length (cm)"].tolist() == [first[0], first[0], first[1]]
    assert not (svc.home / "predictions").exists()  # nothing in the state folder
    result = svc.log_labels({"pg-one": 1, "pg-batch": [0, 2], "ghost": 1})
    assert (result.joined, result.unknown, result.replaced) == (2, 1, 0)
    answer = requests.post(f"http://127.0.0.1:{svc.port}/feedback",
                           json={"request_id": "pg-one", "label": 2}, timeout=30).json()
    assert (answer["joined"], answer["replaced"]) == (1, 1)
    assert svc.predictions()["label"].tolist() == [2, 0, 2]
    assert len(svc.predictions(limit=2)) == 2 and svc.predictions(version="7").empty
    svc.stop()


def test_unreachable_postgresql_buffers_and_never_blocks(home, mlflow_model, iris):
    port = process.free_port("127.0.0.1")  # nothing listens there
    svc = MLFlowDeploymentService("nopg", mlflow_model["model_uri"],
                                  tracking_uri=mlflow_model["tracking_uri"],
                                  prediction_log=f"postgresql://postgres@127.0.0.1:{port}/x")
    svc.start(timeout=120)
    answers = [post(svc, split(iris, 1), f"lost-{i}") for i in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    status = wait_for(lambda: (lambda s: s if s["last_error"] else None)(
        svc.server_status()["prediction_log"]), 15, "the connection failure")
    assert status["buffered"] == 3 and status["dropped"] == 0
    assert "OperationalError" in status["last_error"]
    svc.stop()
