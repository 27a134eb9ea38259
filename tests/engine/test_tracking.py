"""Runs tracked in a real MLflow with a temporary SQLite store (the default in the state folder)."""

from __future__ import annotations

import pytest

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step


@pytest.fixture
def tracked(home, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # anything written to ./mlruns would show up here
    ws = ctcd.Workspace(home, namespace={"ctcd": ctcd}, tracking=True)
    old = ctcd.set_workspace(ws)
    yield ws
    ctcd.set_workspace(old)
    ws.close()


def test_run_is_one_mlflow_run_in_the_state_folder(tracked, home, tmp_path):
    from mlflow.tracking import MlflowClient

    pipeline = Pipeline("ct", [
        Step("train", "model = C * 2\n"
                      "for i in range(3):\n    ctcd.log_metric('loss', 1 / (i + 1))"),
        Step("evaluate", "acc = model / 10\nctcd.log_metric('accuracy', acc)"),
    ])
    run = pipeline.run(params={"C": 4})
    assert run.warnings == [] and run.mlflow_run_id
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    data = client.get_run(run.mlflow_run_id)
    assert data.info.status == "FINISHED"
    assert client.get_experiment(data.info.experiment_id).name == "ct"
    assert data.data.params == {"C": "4"}
    assert data.data.metrics["accuracy"] == pytest.approx(0.8)
    assert [m.value for m in client.get_metric_history(run.mlflow_run_id, "loss")] == \
        pytest.approx([1, 0.5, 1 / 3])
    assert "step_seconds.train" in data.data.metrics
    assert data.data.tags["ctcd.run_id"] == run.id
    assert data.data.tags["ctcd.step.evaluate"] == "SUCCEEDED"
    assert not (tmp_path / "mlruns").exists()
    assert (home / "mlflow.db").exists()


def test_failed_run_is_failed_in_mlflow_too(tracked, home):
    from mlflow.tracking import MlflowClient

    run = Pipeline("broken", [Step("s", "x = 1 / 0")]).run()
    client = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
    data = client.get_run(run.mlflow_run_id)
    assert data.info.status == "FAILED"
    assert data.data.tags["ctcd.failed_step"] == "s"


def test_unreachable_tracking_store_warns_but_runs(home, monkeypatch, tmp_path):
    # /proc refuses new folders, even for root: the store cannot be created.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////proc/ctcd-no-such-dir/mlflow.db")
    ws = ctcd.Workspace(home, namespace={}, tracking=True)
    try:
        run = Pipeline("p", [Step("s", "x = 1")], workspace=ws).run()
        assert run.status is ctcd.RunState.SUCCEEDED
        assert run.warnings and "MLflow tracking unavailable" in run.warnings[0]
    finally:
        ws.close()
