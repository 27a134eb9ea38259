"""The monitor report on a synthetic prediction log with two versions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ctcd_jupyter.errors import CriterionError
from ctcd_jupyter.monitoring import MonitorReport


def _rows(rng, version: str, n: int, start: float, *, shift: float = 0.0,
          error_rate: float = 0.0, accuracy: float = 0.9, labelled: float = 0.5):
    x0, x1 = rng.normal(size=n), rng.normal(size=n) + shift
    label = (x0 > 0).astype(int)
    prediction = np.where(rng.random(n) < accuracy, label, 1 - label)
    known = rng.random(n) < labelled
    return pd.DataFrame({
        "request_id": [f"{version}-{start}-{i}" for i in range(n)],
        "time": start + np.arange(n, dtype=float),
        "service": "iris", "model_uri": f"models:/iris/{version}", "version": version,
        "arm": "stable", "status": np.where(rng.random(n) < error_rate, 500, 200),
        "latency_ms": 10.0 + rng.exponential(5.0, n),
        "prediction": prediction,
        "label": pd.Series(label, dtype=object).where(known, None),
        "x0": x0, "x1": x1})


@pytest.fixture
def log():
    rng = np.random.default_rng(0)
    return pd.concat([
        _rows(rng, "1", 3000, 0.0, error_rate=0.02),
        _rows(rng, "2", 1000, 3000.0),  # v2's first rows: its reference
        _rows(rng, "2", 1500, 4000.0, shift=1.0, accuracy=0.7),
    ], ignore_index=True)


def test_per_version_traffic_errors_latency_and_accuracy(log):
    rng = np.random.default_rng(1)
    reference = _rows(rng, "1", 2000, -5000.0)[["x0", "x1", "prediction"]]
    report = MonitorReport(log, {1: reference})  # a registry version given as a number
    v1, v2 = report["1"], report["2"]
    assert v1.requests == 3000 and 0.01 < v1.error_rate < 0.03
    assert v1.latency_p50_ms < v1.latency_p99_ms
    assert v1.reference == "stored reference (2,000 rows)"
    assert v1.accuracy.state == "ok" and v1.accuracy.low < 0.9 < v1.accuracy.high
    assert not v1.drifted and v1.prediction_drift.verdict == "ok"
    assert v2.reference == "first 1,000 logged rows (no reference stored)"
    assert v2.requests == 1500  # its reference rows are not in its window
    assert v2.drift.drifting == ["x1"] and v2.drifted
    assert v2.accuracy.high < v1.accuracy.low
    assert report.drifted


def test_the_window_ends_at_the_newest_row_unless_now_is_given(log):
    report = MonitorReport(log, window=500.0)
    assert report.now == 5499.0
    assert [v.requests for v in report.versions] == [0, 500]
    assert report["1"].accuracy.state == "inconclusive"
    assert {f.verdict for f in report["1"].drift.features} == {"inconclusive"}
    earlier = MonitorReport(log, window=1000.0, now=2999.0)  # (1999, 2999]
    assert earlier["1"].requests == 1000


def test_to_frame_has_one_row_per_version_and_metric_or_feature(log):
    frame = MonitorReport(log).to_frame()
    assert list(frame.columns) == ["version", "kind", "name", "value", "low", "high", "test",
                                   "p_value", "psi", "verdict", "n"]
    v2 = frame[frame["version"] == "2"].set_index("name")
    assert v2.loc["x1", "kind"] == "feature" and v2.loc["x1", "verdict"] == "drift"
    assert v2.loc["prediction", "kind"] == "prediction"
    assert v2.loc["requests", "value"] == 1500 and v2.loc["accuracy", "test"] == "wilson"
    assert len(frame) == 2 * (7 + 2 + 1)


def test_the_views_say_where_the_reference_came_from(log):
    report = MonitorReport(log)
    text = repr(report)
    assert "drifted=True" in text and "no reference stored" in text
    assert "x1: drift" in text
    assert "<table" in report._repr_html_()


def test_a_frame_that_is_no_prediction_log_is_a_clear_error():
    with pytest.raises(CriterionError, match="missing: time, version"):
        MonitorReport(pd.DataFrame({"status": [200]}))
    with pytest.raises(CriterionError, match="positive number of seconds"):
        MonitorReport(pd.DataFrame(columns=["time", "version", "status", "latency_ms",
                                            "prediction"]), window=-1)


def test_to_dict_is_json_with_histograms_of_reference_and_window(log):
    import json

    data = json.loads(json.dumps(MonitorReport(log).to_dict(), allow_nan=False))
    v2 = data["versions"][1]
    assert data["drifted"] is True and v2["version"] == "2" and v2["drifted"] is True
    hist = v2["histograms"]["x1"]
    assert hist["kind"] == "numeric" and len(hist["edges"]) == 21
    assert sum(hist["reference"]) == pytest.approx(1) and sum(hist["window"]) == pytest.approx(1)
    # the window moved right by 1 sd: its mass sits in higher bins than the reference's
    centres = np.diff(hist["edges"]) / 2 + hist["edges"][:-1]
    assert np.dot(centres, hist["window"]) - np.dot(centres, hist["reference"]) > 0.7
    assert v2["histograms"]["prediction"]["categories"] in (["0", "1"], ["1", "0"])
    assert [f["feature"] for f in v2["features"]] == ["x0", "x1"]
