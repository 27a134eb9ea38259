"""A small synthetic data stream for continuous-training examples: fresh data on every run.

The class boundary rotates and the noise grows with the run number, so successive runs train on
different data, get different metrics, and an old model slowly goes stale (concept drift).
"""

from __future__ import annotations

import itertools
import math
import threading

import numpy as np

__all__ = ["drifting_classification", "feature_names", "fetch_fresh_data", "reset_stream"]

_counter = itertools.count()
_counter_lock = threading.Lock()


def feature_names(n_features: int = 4) -> list[str]:
    """Column names of the generated features: x0, x1, ..."""
    return [f"x{i}" for i in range(n_features)]


def drifting_classification(run: int | None = None, n: int = 400, *, n_features: int = 4,
                            seed: int = 0, test_size: float = 0.25, drift: float = 0.2,
                            noise: float = 0.6, noise_growth: float = 0.03,
                            feature_shift: float = 0.0,
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, X_test, y_train, y_test) for binary classification at drift step `run`.

    The true boundary is a hyperplane whose normal turns by `drift` radians per run in the plane
    of the first two features; label noise grows with the run (concept drift). `feature_shift`
    moves the mean of the first feature by that much per run (data drift: what the monitor's
    drift tests see in the inputs). The same (run, seed, sizes) give the same arrays;
    `run=None` takes the next number of this process's stream.
    """
    if n < 8 or n_features < 2 or not 0 < test_size < 1:
        raise ValueError("need n >= 8, n_features >= 2 and 0 < test_size < 1")
    if run is None:
        run = _next_run()
    rng = np.random.default_rng([seed, run])
    X = rng.normal(size=(n, n_features))
    X[:, 0] += feature_shift * run
    angle = drift * run
    weights = np.zeros(n_features)
    weights[0], weights[1] = math.cos(angle), math.sin(angle)
    weights[2:] = 0.3 / np.arange(1, n_features - 1)  # weak, stable extra signal
    margin = X @ weights + rng.normal(scale=noise + noise_growth * run, size=n)
    y = (margin > 0).astype(np.int64)
    y[:2] = [0, 1]  # both classes always present, even for tiny n
    n_test = max(2, round(n * test_size))
    order = rng.permutation(n)
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]


def fetch_fresh_data(n: int = 400, *, seed: int = 0, **kwargs: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The next batch of the stream: each call (each scheduled run) gets newer, drifted data."""
    return drifting_classification(None, n, seed=seed, **kwargs)


def reset_stream(start: int = 0) -> None:
    """Start this process's stream again at run `start` (for reproducible notebooks)."""
    global _counter
    with _counter_lock:
        _counter = itertools.count(start)


def _next_run() -> int:
    with _counter_lock:
        return next(_counter)
