"""Fixtures for service tests: a state folder per test, helper servers, one shared MLflow model.

Every test's processes are stopped by the `home` finalizer, which also kills any process group
still recorded in that state folder (the safety net).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from service_helpers import PING_SERVER, kill_recorded


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("CTCD_HOME", str(path))
    yield path
    from ctcd_jupyter.services import services

    for svc in services(path):
        with contextlib.suppress(Exception):
            svc.stop(timeout=3, force=False)
    leftovers = kill_recorded(path)
    assert not leftovers, f"test left processes running: {leftovers}"


@pytest.fixture(scope="session")
def ping_server(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("scripts") / "ping_server.py"
    path.write_text(PING_SERVER)
    return path


TRAIN = """
import json, sys
import mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
folder = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
X, y = load_iris(return_X_y=True, as_frame=True)
model = LogisticRegression(max_iter=300).fit(X, y)
exp = mlflow.create_experiment("services-tests", artifact_location=f"{folder}/artifacts")
with mlflow.start_run(experiment_id=exp):
    mlflow.sklearn.log_model(model, name="model", registered_model_name="iris",
                             serialization_format="cloudpickle", pip_requirements=[],
                             input_example=X.head(2))
print(json.dumps({"tracking_uri": f"sqlite:///{folder}/mlflow.db",
                  "model_uri": "models:/iris/1"}))
"""


@pytest.fixture(scope="session")
def mlflow_model(tmp_path_factory) -> dict:
    """One sklearn iris model logged and registered in a temporary SQLite MLflow store."""
    folder = tmp_path_factory.mktemp("mlflow")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlflow.db"}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(TRAIN), str(folder)],
                         capture_output=True, text=True, timeout=120, env=env, cwd=folder)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def mlflow_env(mlflow_model, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_model["tracking_uri"])
    return mlflow_model


@pytest.fixture(scope="session")
def iris():
    from sklearn.datasets import load_iris

    X, _ = load_iris(return_X_y=True, as_frame=True)
    return X
