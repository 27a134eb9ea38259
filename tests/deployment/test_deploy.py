"""Continuous deployment with real MLflow and real prediction servers."""

from __future__ import annotations

import os
import threading
import time

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
    assert first.is_running and first.model_uri == "models:/iris@champion"
    assert first.model_version == "1"
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
    # swapped inside the same server: same endpoint, new version
    assert second.endpoint == first_endpoint and second.model_version == "2"
    assert ctcd.get_service("iris").model_version == "2"

    kept = ctcd.mlflow_deploy(LogisticRegression(max_iter=300).fit(X, y), "iris",
                              metrics={"acc": 0.5}, criterion=crit)
    assert kept.model_version == "2" and kept.endpoint == first_endpoint

    with pytest.raises(ctcd.DeploymentError, match="v2 keeps serving") as info:
        ctcd.mlflow_deploy(FailsWhenServed(), "iris", metrics={"acc": 0.99}, criterion=crit,
                           input_example=X.head(2), timeout=120)
    assert len(str(info.value).splitlines()) == 1 and "v3" in str(info.value)
    still = ctcd.get_service("iris")
    assert still.is_running and still.endpoint == first_endpoint
    assert still.model_version == "2"
    assert len(still.predict(X.head(3))) == 3

    outcomes = [(d.outcome, d.version) for d in ctcd.deployments("iris")]
    assert outcomes == [("failed", "3"), ("kept", None), ("deployed", "2"), ("deployed", "1")]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{workspace.home / 'mlflow.db'}")
    assert str(client.get_model_version_by_alias("iris", "champion").version) == "2"
    assert client.get_model_version("iris", "3").tags["ctcd.deploy"] == "failed"
    assert [(h["version"], h["why"]) for h in still.history()] == [
        ("1", "deployed"), ("2", "deployed")]

    still.rollback()
    assert still.model_version == "1" and still.endpoint == first_endpoint
    assert str(client.get_model_version_by_alias("iris", "champion").version) == "1"
    assert ctcd.deployments("iris")[0].outcome == "rolled_back"
    ctcd.get_service("iris").stop()


def test_deployer_joins_a_start_in_progress(workspace, iris):
    X, y = iris
    first = ctcd.mlflow_deploy(LogisticRegression(C=0.01, max_iter=300).fit(X, y), "joined",
                               metrics={"acc": 0.8}, input_example=X.head(2))
    endpoint = first.endpoint
    first.stop()
    starter = threading.Thread(target=lambda: ctcd.get_service("joined").start(timeout=120))
    starter.start()  # e.g. the side panel's Start button
    try:
        deadline = time.monotonic() + 30
        while ctcd.get_service("joined").status is not ctcd.ServiceState.PENDING_STARTUP:
            assert time.monotonic() < deadline, "the start never showed as PENDING_STARTUP"
            time.sleep(0.01)
        svc = ctcd.mlflow_deploy(LogisticRegression(C=1.0, max_iter=300).fit(X, y), "joined",
                                 metrics={"acc": 0.9}, input_example=X.head(2),
                                 criterion=ctcd.better_than_champion("acc"))
    finally:
        starter.join(120)
    assert svc.model_version == "2" and svc.endpoint == endpoint  # the port was kept
    assert [d.outcome for d in ctcd.deployments("joined")] == ["deployed", "deployed"]
    svc.stop()


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
