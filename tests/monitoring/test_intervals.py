"""Live accuracy with its interval, nothing below the minimum of labels, and label lag."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from ctcd_jupyter.datasource import drifting_classification
from ctcd_jupyter.errors import CriterionError
from ctcd_jupyter.monitoring.intervals import label_lag, live_accuracy, wilson_interval


@pytest.mark.parametrize(("hits", "n"), [(45, 50), (0, 20), (20, 20), (512, 1000), (3, 7)])
def test_wilson_interval_matches_scipy(hits, n):
    expected = binomtest(hits, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(hits, n) == pytest.approx((expected.low, expected.high), abs=1e-12)
    expected = binomtest(hits, n).proportion_ci(confidence_level=0.8, method="wilson")
    assert wilson_interval(hits, n, 0.8) == pytest.approx((expected.low, expected.high))


def test_wilson_interval_rejects_impossible_counts():
    with pytest.raises(CriterionError, match="0 <= successes <= n"):
        wilson_interval(5, 3)


def _frozen_model(X: np.ndarray) -> np.ndarray:
    """The true boundary of the stream's run 0: a model that was right when it was trained."""
    return (X[:, 0] + 0.3 * X[:, 2] + 0.15 * X[:, 3] > 0).astype(int)


def test_the_accuracy_of_a_frozen_model_falls_as_the_shipped_stream_drifts():
    results = []
    for run in (0, 8):
        X, _, y, _ = drifting_classification(run, n=800, test_size=0.25)
        results.append(live_accuracy(_frozen_model(X), y))
    before, after = results
    assert before.metric == "accuracy" and before.method == "wilson" and before.n == 600
    assert before.low < before.value < before.high
    assert after.high < before.low  # the intervals no longer overlap: a real drop


def test_below_the_minimum_of_labels_the_accuracy_is_inconclusive():
    result = live_accuracy([1, 0, 1], [1, 1, None], min_labels=50)
    assert result.state == "inconclusive" and result.value is None and result.n == 2
    assert "needs 48 more (min_labels=50)" in str(result)


def test_regression_gets_mae_with_a_t_interval_and_rmse_by_bootstrap():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    pred = y + rng.normal(scale=0.5, size=400)
    mae = live_accuracy(pred, y)
    assert mae.metric == "mae" and mae.method == "t"
    assert mae.low < 0.5 * np.sqrt(2 / np.pi) < mae.high  # E|N(0, 0.5)|
    rmse = live_accuracy(pred, y, metric="rmse")
    assert rmse.method == "bootstrap" and rmse.low < 0.5 < rmse.high
    assert live_accuracy(pred, y, metric="rmse") == rmse  # seeded: reproducible
    with pytest.raises(CriterionError, match="no metric named 'r2'"):
        live_accuracy(pred, y, metric="r2")


def test_label_lag_needs_the_time_a_label_arrived():
    frame = pd.DataFrame({"time": [0.0, 10.0, 20.0, 30.0], "label": [1, None, 0, 1],
                          "label_time": [5.0, None, 40.0, 60.0]})
    lag = label_lag(frame)
    assert lag["labelled"] == 3 and lag["rows"] == 4
    assert lag["lag_p50_s"] == pytest.approx(20.0)
    assert label_lag(frame.drop(columns="label_time"))["lag_p50_s"] is None


def test_a_float_prediction_of_an_integer_class_counts_as_right():
    result = live_accuracy([1.0, 0.0, 1.0, "a"] * 20, [1, 0, 0, "a"] * 20, min_labels=10)
    assert result.value == pytest.approx(0.75)
