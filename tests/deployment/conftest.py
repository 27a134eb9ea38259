"""Real MLflow (a temporary SQLite store in the state folder) and real `mlflow models serve`."""

from __future__ import annotations

import contextlib

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("CTCD_HOME", str(path))
    monkeypatch.setenv("CTCD_TRACKING", "0")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield path
    from ctcd_jupyter.services import services

    for svc in services(path):
        with contextlib.suppress(Exception):
            svc.stop(timeout=10, force=True)


@pytest.fixture(scope="session")
def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y
