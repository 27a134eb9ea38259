"""Fixtures for service tests: a state folder per test, helper servers, one shared MLflow model.

Every test's processes are stopped by the `home` finalizer, which also kills any process group
still recorded in that state folder (the safety net).
"""

from __future__ import annotations

import contextlib
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


@pytest.fixture
def mlflow_env(mlflow_model, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_model["tracking_uri"])
    return mlflow_model


@pytest.fixture(scope="session")
def iris():
    from sklearn.datasets import load_iris

    X, _ = load_iris(return_X_y=True, as_frame=True)
    return X
