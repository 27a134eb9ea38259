"""The numeric cores of the guards: SPRT boundaries and sample numbers, quantile bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctcd_jupyter.monitoring.sequential import (
    expected_requests,
    newcombe_difference,
    quantile_bounds,
    sprt_boundaries,
)


def test_wald_boundaries_and_average_sample_numbers():
    upper, lower = sprt_boundaries(0.01, 0.05)
    assert (upper, lower) == pytest.approx((math.log(95), math.log(0.05 / 0.99)))
    # by hand: step under H0 = .01 ln 3 + .99 ln(.97/.99) = -0.009218;
    # (.99 * lower + .01 * upper) / step = 315.8; under H1 (3 %): 317.3
    good, bad = expected_requests(0.01, 3.0, 0.01, 0.05)
    assert good == pytest.approx(315.8, abs=0.5) and bad == pytest.approx(317.3, abs=0.5)


def test_quantile_bounds_cover_the_true_quantile_at_the_stated_rate():
    rng = np.random.default_rng(0)
    true_p95 = 1.6448536269514722  # of the standard normal
    covered = 0
    for _ in range(400):
        low, high = quantile_bounds(np.sort(rng.standard_normal(200)), 0.95, 0.9)
        covered += low <= true_p95 <= high
    assert covered / 400 >= 0.88  # >= 90 % nominal, up to simulation noise (sd 1.5 %)
    assert quantile_bounds(np.sort(rng.standard_normal(5)), 0.95, 0.99)[1] == math.inf


@pytest.mark.parametrize(("counts", "expected"), [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
])
def test_newcombe_interval_matches_the_published_examples(counts, expected):
    # Newcombe, Statistics in Medicine 17 (1998), Table II, method 10
    d, low, high = newcombe_difference(*counts, 0.95)
    assert d == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])
    assert (low, high) == pytest.approx(expected, abs=1e-4)
