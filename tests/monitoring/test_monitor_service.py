"""`svc.monitor()` on a real served model (real MLflow SQLite registry, real model server, the
real prediction log): a reference stored with the version by `mlflow_deploy(reference=...)`,
drift seen after the shipped stream shifts and not before, labels posted over HTTP by another
process turning into live accuracy, and `ctcd monitor` in another process reading the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest
from monitor_helpers import FEEDBACK, frame, send, stream
from sklearn.linear_model import LogisticRegression

import ctcd_jupyter as ctcd
from ctcd_jupyter.datasource import drifting_classification
from ctcd_jupyter.errors import DeploymentError, PredictionLogError


def test_drift_is_seen_after_the_shift_and_not_before(served):
    svc, _ = served
    calm = stream(1, 600, seed=2)[0]
    send(svc, calm)
    between = time.time()
    shifted = stream(4, 600, seed=3, feature_shift=0.6)[0]
    send(svc, shifted)
    end = time.time() + 0.5

    before = svc.monitor(window=between - (end - 3600), now=between)
    after = svc.monitor(window=end - between, now=end)
    v_before, v_after = before["1"], after["1"]
    assert v_before.requests == 600 and v_after.requests == 600
    assert "stored with the model version" in v_before.reference
    assert not before.drifted, before
    assert after.drifted, after
    drifting = {f.feature for f in v_after.drift.features if f.verdict == "drift"}
    assert drifting == {"x0"}, after  # only the first feature's mean moved
    # the charts' data is there: reference and window side by side, requests over time
    hist = after.to_dict()["versions"][0]["histograms"]["x0"]
    assert hist["reference"] and hist["window"] and hist["n"] == 600
    assert sum(after.to_dict()["versions"][0]["timeline"]["requests"]) == 600
    frame = after.to_frame()
    assert {"feature", "metric", "prediction"} <= set(frame["kind"])


def test_labels_posted_by_another_process_become_live_accuracy(served):
    svc, model = served
    X, y = stream(1, 400, seed=4)
    ids = send(svc, X, rows_per_request=1)
    report = svc.monitor("1h")
    assert report["1"].accuracy.value is None
    assert "needs 50 more" in report["1"].accuracy.reason
    url = svc.endpoint.rsplit("/", 1)[0] + "/feedback"
    labels = [{"request_id": rid, "label": int(label)} for rid, label in zip(ids, y,
                                                                             strict=True)]
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(FEEDBACK), url,
                          json.dumps(labels)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    version = svc.monitor("1h")["1"]
    expected = float((model.predict(frame(X)) == y).mean())
    assert version.labels["labelled"] == 400 and version.accuracy.n == 400
    assert version.accuracy.value == pytest.approx(expected)
    assert version.accuracy.low < expected < version.accuracy.high
    assert version.labels["lag_p50_s"] is not None and version.labels["lag_p50_s"] >= 0


def test_ctcd_monitor_in_another_process_uses_the_stored_reference(served, home):
    svc, _ = served
    send(svc, stream(1, 200, seed=5)[0])
    env = {**os.environ, "CTCD_HOME": str(home)}
    out = subprocess.run([sys.executable, "-m", "ctcd_jupyter.cli", "monitor", "drifty",
                          "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["service"] == "drifty" and data["versions"][0]["requests"] == 200
    assert data["versions"][0]["reference"].startswith("stored with the model version")
    text = subprocess.run([sys.executable, "-m", "ctcd_jupyter.cli", "monitor", "drifty"],
                          capture_output=True, text=True, timeout=120, env=env).stdout
    assert text.startswith("drifty: last 1 h, no drift")
    assert "VERSION" in text and "reference: stored with the model version" in text


def test_without_a_reference_the_first_logged_rows_are_the_reference(workspace):
    X_train, X_test, y_train, _ = drifting_classification(0, 1000, seed=1)
    model = LogisticRegression(max_iter=300).fit(frame(X_train), y_train)
    svc = ctcd.mlflow_deploy(model, "plain", metrics={"acc": 0.9},
                             input_example=frame(X_test[:2]))
    try:
        send(svc, stream(1, 1300, seed=6)[0], rows_per_request=50)
        version = svc.monitor("1h")["1"]
        assert version.reference == "first 1,000 logged rows (no reference stored)"
        assert version.requests == 300  # the reference's rows are not counted twice
    finally:
        svc.stop()


def test_bad_reference_and_window_are_one_line_errors(workspace):
    model = LogisticRegression().fit([[0.0, 1.0], [1.0, 0.0]], [0, 1])
    with pytest.raises(DeploymentError, match="reference is empty"):
        ctcd.mlflow_deploy(model, "empty", metrics={"acc": 1.0}, reference=[])
    assert ctcd.deployments("empty") == []  # nothing was registered or recorded
    with pytest.raises(PredictionLogError, match="window must be a positive duration"):
        svc = ctcd.MLFlowDeploymentService("unstarted", "models:/x/1")
        svc.monitor(window=0)
