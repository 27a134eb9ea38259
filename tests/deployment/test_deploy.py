"""Continuous deployment with real MLflow and real prediction servers."""

from __future__ import annotations

import os
import threading

import pytest
from sklearn.linear_model import LogisticRegression

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step


class FailsWhenServed:
    """Predicts in the process that built it, raises in any other (the server)."""

    def __init__(self):
        self.pid = os.getpid()

    def predict(self, X):
        if os.getpid() != self.pid:
            raise RuntimeError("this model fails when served")
        return [0] * len(X)


def test_deploy_swap_without_downtime_keep_and_failure(workspace, iris):
    X, y = iris
    crit = ctcd.better_than_champion("acc")
    first = ctcd.mlflow_deploy(LogisticRegression(C=0.01, max_iter=300).fit(X, y), "iris",
                               metrics={"acc": 0.8}, criterion=crit, input_example=X.head(2))
    assert first.is_running and first.model_uri == "models:/iris/1"
    first_endpoint = first.endpoint

    errors, answers, stop = [], [], threading.Event()

    def client():
        svc = ctcd.get_service("iris")
        while not stop.is_set():
            try:
                answers.append(svc.predict(X.head(1)))
            except Exception as exc:  # any failed prediction during the swap is downtime
                errors.append(exc)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        second = ctcd.mlflow_deploy(LogisticRegression(C=1.0, max_iter=300).fit(X, y), "iris",
                                    metrics={"acc": 0.95}, criterion=crit,
                                    input_example=X.head(2))
    finally:
        stop.set()
        thread.join(30)
    assert errors == [] and len(answers) > 10
    assert second.model_uri == "models:/iris/2" and second.endpoint != first_endpoint
    assert ctcd.get_service("iris").model_uri == "models:/iris/2"

    kept = ctcd.mlflow_deploy(LogisticRegression(max_iter=300).fit(X, y), "iris",
                              metrics={"acc": 0.5}, criterion=crit)
    assert kept.model_uri == "models:/iris/2" and kept.endpoint == second.endpoint

    endpoint = second.endpoint
    with pytest.raises(ctcd.DeploymentError, match="previous server keeps serving"):
        ctcd.mlflow_deploy(FailsWhenServed(), "iris", metrics={"acc": 0.99}, criterion=crit,
                           input_example=X.head(2), timeout=120)
    still = ctcd.get_service("iris")
    assert still.is_running and still.endpoint == endpoint and still.model_uri.endswith("/2")
    assert len(still.predict(X.head(3))) == 3

    outcomes = [(d.outcome, d.version) for d in ctcd.deployments("iris")]
    assert outcomes == [("failed", "3"), ("kept", None), ("deployed", "2"), ("deployed", "1")]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{workspace.home / 'mlflow.db'}")
    assert str(client.get_model_version_by_alias("iris", "champion").version) == "2"
    ctcd.get_service("iris").stop()


def test_deployer_step_in_a_pipeline(workspace, iris):
    X, y = iris
    workspace.namespace = {"X": X, "y": y, "LogisticRegression": LogisticRegression,
                           "ctcd": ctcd}
    config = ctcd.MLFlowDeployerConfig(model_name="iris-step", workers=1,
                                       criterion=ctcd.threshold("acc", 0.9))
    pipeline = Pipeline("cd", [
        Step("train", "model = LogisticRegression(max_iter=300).fit(X, y)\n"
                      "ctcd.log_metric('acc', model.score(X, y))"),
        ctcd.mlflow_deployer_step(config),
    ])
    run = pipeline.run()
    assert run.ok, run.error
    service = run.outputs["service"]
    assert service.is_running and len(service.predict(X.head(2))) == 2
    record = ctcd.deployments("iris-step")[0]
    assert record.outcome == "deployed" and record.run_id == run.id
    service.stop()


def test_a_name_taken_by_another_kind_of_service_is_refused(workspace, iris):
    import sys

    X, y = iris
    other = ctcd.LocalDaemonService("taken", [sys.executable, "-c",
                                              "import time; time.sleep(600)"])
    other.start(timeout=30, progress=False)
    with pytest.raises(ctcd.DeploymentError, match="a local_daemon service named 'taken'"):
        ctcd.mlflow_deploy(LogisticRegression(max_iter=300).fit(X, y), "taken")
    assert other.is_running and ctcd.deployments("taken") == []
