"""`ctcd predictions` and `ctcd labels` against a real model server's prediction log."""

from __future__ import annotations

import io
import json
import time

import pandas as pd
import pytest
import requests

from ctcd_jupyter.cli import main
from ctcd_jupyter.services import MLFlowDeploymentService


def wait_rows(svc, n):
    deadline = time.monotonic() + 10
    while len(svc.predictions()) < n:
        assert time.monotonic() < deadline, f"timed out waiting for {n} logged rows"
        time.sleep(0.05)


@pytest.fixture
def logged(home, mlflow_model):
    from sklearn.datasets import load_iris

    iris = load_iris(as_frame=True).data
    svc = MLFlowDeploymentService("iris", mlflow_model["model_uri"],
                                  tracking_uri=mlflow_model["tracking_uri"])
    svc.start(timeout=120)
    body = {"dataframe_split": json.loads(iris.head(2).to_json(orient="split", index=False))}
    for rid in ("cli-a", "cli-b"):
        answer = requests.post(f"http://127.0.0.1:{svc.port}/invocations", json=body,
                               headers={"X-Request-Id": rid}, timeout=30)
        assert answer.status_code == 200
    wait_rows(svc, 4)
    yield svc
    svc.stop()


def test_predictions_as_json_csv_and_table(logged, capsys):
    assert main(["predictions", "iris", "--json", "--since", "1h"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["request_id"] for r in records] == ["cli-a", "cli-a", "cli-b", "cli-b"]
    assert records[0]["version"] == "1" and "sepal length (cm)" in records[0]
    assert main(["predictions", "iris", "--csv", "--limit", "2"]) == 0
    frame = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(frame["request_id"]) == ["cli-b", "cli-b"]
    assert list(frame.columns[:3]) == ["request_id", "time", "service"]
    assert main(["predictions", "iris"]) == 0
    out = capsys.readouterr().out
    assert out.split()[0] == "request_id" and out.count("cli-") == 4
    assert main(["predictions", "iris", "--until", "0"]) == 0
    assert "no logged predictions for 'iris'" in capsys.readouterr().out


def test_labels_from_a_csv_file(logged, tmp_path, capsys):
    path = tmp_path / "labels.csv"
    path.write_text("request_id,label\ncli-a,1\nghost,0\n")
    assert main(["labels", "iris", str(path)]) == 0
    out = capsys.readouterr().out
    assert "iris: 1 label(s) joined, 1 unknown request id(s)" in out
    assert "unknown request ids: ghost" in out
    assert list(logged.predictions()["label"]) == [1, 1, None, None]
    path.write_text("id,outcome\ncli-a,1\n")
    assert main(["labels", "iris", str(path)]) == 1
    assert "needs the columns request_id and label (missing: request_id, label" in \
        capsys.readouterr().err


def test_predictions_of_an_unknown_service_is_one_line(home, capsys):
    assert main(["predictions", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ctcd: error: ") and len(err.strip().splitlines()) == 1
