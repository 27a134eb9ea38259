"""Tests for ctcd_jupyter.datasource: deterministic per run, drifting across runs."""

from __future__ import annotations

import numpy as np
import pytest

from ctcd_jupyter import datasource
from ctcd_jupyter.datasource import drifting_classification, feature_names, fetch_fresh_data


def _fit_score(train_X, train_y, test_X, test_y) -> float:
    # least squares on +-1 targets: a linear classifier without sklearn
    weights = np.linalg.lstsq(np.c_[train_X, np.ones(len(train_X))], 2 * train_y - 1,
                              rcond=None)[0]
    return float(((np.c_[test_X, np.ones(len(test_X))] @ weights > 0) == test_y).mean())


def test_shapes_types_and_determinism():
    X_train, X_test, y_train, y_test = drifting_classification(3, n=200, n_features=5)
    assert X_train.shape == (150, 5) and X_test.shape == (50, 5)
    assert y_train.dtype == np.int64 and set(np.unique(np.r_[y_train, y_test])) == {0, 1}
    again = drifting_classification(3, n=200, n_features=5)
    assert all(np.array_equal(a, b) for a, b in zip(again, (X_train, X_test, y_train, y_test),
                                                      strict=True))
    other_seed = drifting_classification(3, n=200, n_features=5, seed=1)
    assert not np.array_equal(other_seed[0], X_train)
    assert feature_names(3) == ["x0", "x1", "x2"]


def test_successive_runs_differ_and_drift_makes_old_models_stale():
    runs = [drifting_classification(r) for r in range(0, 16, 3)]
    own = [_fit_score(*r[:1], r[2], r[1], r[3]) for r in runs]
    first = runs[0]
    stale = [_fit_score(first[0], first[2], r[1], r[3]) for r in runs]
    assert len(set(own)) > 1  # different data, different metrics
    assert stale[-1] < stale[0] - 0.2 and own[-1] > stale[-1] + 0.2


def test_stream_advances_and_resets():
    datasource.reset_stream(7)
    try:
        assert np.array_equal(fetch_fresh_data()[0], drifting_classification(7)[0])
        assert np.array_equal(fetch_fresh_data()[0], drifting_classification(8)[0])
    finally:
        datasource.reset_stream()


def test_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n >= 8"):
        drifting_classification(0, n=3)
