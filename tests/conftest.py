"""Fixtures shared by every layer: a temporary state folder per test, a real IPython shell, and
one MLflow model registered in a temporary SQLite store."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap

import pytest

import ctcd_jupyter as ctcd

# jp_fetch & co. for tests/server: a real Jupyter server with the extension.
pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture(autouse=True)
def _environment_restored():
    """Each test leaves the process environment as it found it: `%load_ext` outside the `shell`
    fixture sets MLFLOW_TRACKING_URI, and a leaked one pointed the notebooks' kernels (nbval,
    run last, inheriting this process's environment) at another test's MLflow store."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh state folder; MLflow off unless a test turns it on. Services a test left in it
    are stopped afterwards."""
    state = tmp_path / "ctcd-home"
    monkeypatch.setenv("CTCD_HOME", str(state))
    monkeypatch.setenv("CTCD_TRACKING", "0")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield state
    if (state / "state.db").exists():
        from ctcd_jupyter.services import services

        for svc in services(state):
            with contextlib.suppress(Exception):
                svc.stop(timeout=10, force=True)


@pytest.fixture
def workspace(home):
    """The process's default workspace, pointed at a fresh state folder, with its own namespace."""
    ws = ctcd.Workspace(home, namespace={}, tracking=False)
    old = ctcd.set_workspace(ws)
    yield ws
    ctcd.set_workspace(old)
    ws.close()


@pytest.fixture
def shell(workspace):
    """A real InteractiveShell with the extension loaded; unloaded and cleaned afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "ctcd_jupyter")
    workspace.namespace = ip.user_ns
    yield ip
    ip.run_line_magic("unload_ext", "ctcd_jupyter")
    ip.reset(new_session=False)


TRAIN = """
import json, sys
import mlflow, mlflow.sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
folder = sys.argv[1]
mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
X, y = load_iris(return_X_y=True, as_frame=True)
model = LogisticRegression(max_iter=300).fit(X, y)
exp = mlflow.create_experiment("tests", artifact_location=f"{folder}/artifacts")
with mlflow.start_run(experiment_id=exp):
    mlflow.sklearn.log_model(model, name="model", registered_model_name="iris",
                             serialization_format="cloudpickle", pip_requirements=[],
                             input_example=X.head(2))
print(json.dumps({"tracking_uri": f"sqlite:///{folder}/mlflow.db",
                  "model_uri": "models:/iris/1"}))
"""


@pytest.fixture(scope="session")
def mlflow_model(tmp_path_factory) -> dict:
    """One sklearn iris model logged and registered as `models:/iris/1` in a temporary SQLite
    MLflow store (in its own process: the test process need not import mlflow for it)."""
    folder = tmp_path_factory.mktemp("mlflow")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder}/mlflow.db"}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(TRAIN), str(folder)],
                         capture_output=True, text=True, timeout=180, env=env, cwd=folder)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
