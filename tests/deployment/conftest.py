"""Real MLflow (a temporary SQLite store in the state folder) and real `mlflow models serve`."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y
