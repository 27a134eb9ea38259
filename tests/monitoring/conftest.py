"""A model deployed with a stored reference, served by a real model server (real MLflow SQLite
registry in the test's state folder)."""

from __future__ import annotations

import pytest
from monitor_helpers import frame
from sklearn.linear_model import LogisticRegression

import ctcd_jupyter as ctcd
from ctcd_jupyter.datasource import drifting_classification


@pytest.fixture
def served(workspace):
    X_train, X_test, y_train, _ = drifting_classification(0, 4000, seed=1)
    model = LogisticRegression(max_iter=300).fit(frame(X_train), y_train)
    svc = ctcd.mlflow_deploy(model, "drifty", metrics={"acc": 0.9},
                             input_example=frame(X_test[:2]), reference=frame(X_train))
    yield svc, model
    svc.stop()
