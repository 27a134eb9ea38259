"""Drift per feature: the test or distance by sample size, BH across features, the PSI floor."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ctcd_jupyter.errors import CriterionError
from ctcd_jupyter.monitoring.drift import benjamini_hochberg, detect_drift, feature_drift, psi


def _frame(rng: np.random.Generator, n: int, shift: float = 0.0, colours: str = "rgb"):
    return pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n) + shift,
                         "colour": rng.choice(list(colours), size=n)})


def _stream(n_batches: int, shift_at: int, seed: int = 1):
    """A stream of 200-row windows in which x1 moves by 0.6 sd from window `shift_at` on."""
    rng = np.random.default_rng(seed)
    return [_frame(rng, 200, shift=0.6 if i >= shift_at else 0.0) for i in range(n_batches)]


def test_drift_is_detected_after_the_shift_and_not_before():
    reference = _frame(np.random.default_rng(0), 800)
    verdicts = [detect_drift(reference, window) for window in _stream(10, shift_at=5)]
    assert [v.drifted for v in verdicts] == [False] * 5 + [True] * 5
    assert all(v.drifting == ["x1"] for v in verdicts[5:])
    assert verdicts[7]["x1"].test == "ks" and verdicts[7]["x1"].psi >= 0.2


def test_a_tiny_shift_gets_significant_but_the_verdict_stays_ok_as_the_window_grows():
    rng = np.random.default_rng(2)
    reference = pd.DataFrame({"x": rng.normal(size=200_000)})
    verdicts, p_values = [], []
    for n in (500, 1000, 5_000, 50_000, 200_000):
        window = pd.DataFrame({"x": rng.normal(size=n) + 0.05})
        verdicts.append(detect_drift(reference, window, small_max=10**6)["x"])
        p_values.append(verdicts[-1].p_value)
        assert detect_drift(reference, window)["x"].verdict == "ok"  # the default: distance
    assert p_values[-1] < 1e-6  # the KS test alone would flip to "drift" ...
    assert [v.verdict for v in verdicts] == ["ok"] * 5  # ... the PSI floor keeps it "ok"


def test_large_samples_use_a_distance_and_agree_with_the_floor():
    rng = np.random.default_rng(3)
    reference = _frame(rng, 5_000)
    window = _frame(rng, 5_000, shift=0.7, colours="rrgb")
    result = detect_drift(reference, window)
    assert result["x1"].test == "wasserstein" and result["x1"].distance == pytest.approx(0.7,
                                                                                         abs=0.1)
    assert result["x1"].verdict == "drift" and result["x1"].p_value is None
    assert result["colour"].test == "jensen_shannon"
    assert result["x0"].verdict == "ok"
    frame = result.to_frame()
    assert list(frame["feature"]) == ["x0", "x1", "colour"]
    assert set(frame["verdict"]) <= {"ok", "warn", "drift"}


def test_categorical_columns_use_chi_square_and_a_new_category_drifts():
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"c": rng.choice(["a", "b"], 400)})
    window = pd.DataFrame({"c": rng.choice(["a", "b", "new"], 400)})
    from scipy.stats import chi2_contingency

    result = detect_drift(reference, window)["c"]
    counts = pd.crosstab(np.r_[np.zeros(400), np.ones(400)],
                         np.r_[reference["c"], window["c"]]).to_numpy()
    assert result.test == "chi2" and result.verdict == "drift"
    assert result.statistic == pytest.approx(chi2_contingency(counts, correction=False)[0])


def test_below_the_minimum_window_the_verdict_is_inconclusive():
    rng = np.random.default_rng(5)
    result = detect_drift(_frame(rng, 500), _frame(rng, 40, shift=3.0))
    assert {f.verdict for f in result.features} == {"inconclusive"}
    assert not result.drifted
    assert "fewer than min_window=100" in result["x1"].reason


def test_benjamini_hochberg_matches_the_step_up_rule():
    p = [0.01, 0.04, 0.03, 0.005, 0.5]
    # sorted: .005 .01 .03 .04 .5 -> *5/rank: .025 .025 .05 .05 .5 (already monotone)
    assert benjamini_hochberg(p) == pytest.approx([0.025, 0.05, 0.05, 0.025, 0.5])
    from scipy.stats import false_discovery_control

    assert benjamini_hochberg(p) == pytest.approx(false_discovery_control(p))


def test_psi_is_zero_for_the_same_sample_and_grows_with_the_shift():
    x = np.random.default_rng(6).normal(size=5_000)
    assert psi(x, x) == pytest.approx(0.0, abs=1e-9)
    assert psi(x, x + 0.2) < psi(x, x + 0.5) < psi(x, x + 1.0)
    assert 0.15 < psi(x, x + 0.5) < 0.35  # ~ d**2 for a normal mean shift of d sd


def test_a_single_column_and_bad_options():
    rng = np.random.default_rng(7)
    assert feature_drift(rng.normal(size=300), rng.normal(size=300) + 1).verdict == "drift"
    with pytest.raises(CriterionError, match="alpha"):
        detect_drift(_frame(rng, 10), _frame(rng, 10), alpha=2)
    with pytest.raises(CriterionError, match="no column 'nope'"):
        detect_drift(_frame(rng, 10), _frame(rng, 10), columns=["nope"])
