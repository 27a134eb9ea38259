"""Live accuracy of a served model from its labelled predictions, with a confidence interval.

Classification: accuracy with a Wilson interval; regression: MAE (t interval) or RMSE
(bootstrap). Nothing below a minimum of labels: the state is "inconclusive" and says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CriterionError

__all__ = ["Accuracy", "correct", "label_lag", "live_accuracy", "wilson_interval"]

MIN_LABELS = 50
METRICS = {"accuracy": "classification", "mae": "regression", "rmse": "regression"}


@dataclass(frozen=True)
class Accuracy:
    """A live metric with its interval; `state` is "ok" or "inconclusive" (too few labels)."""

    metric: str  # "accuracy" | "mae" | "rmse"
    value: float | None
    low: float | None
    high: float | None
    n: int
    confidence: float
    method: str  # "wilson" | "t" | "bootstrap" | "none"
    state: str
    reason: str = ""

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.metric}: inconclusive ({self.reason})"
        return (f"{self.metric} {self.value:.3f} [{self.low:.3f}, {self.high:.3f}] "
                f"({self.confidence:.0%} {self.method}, n={self.n})")


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion.

    It inverts the score test, so its coverage stays near the nominal level even for small n or
    proportions near 0 or 1, where the Wald interval p ± z·sqrt(p(1-p)/n) collapses (Wilson,
    JASA 22, 1927; recommended by Brown, Cai & DasGupta, Statistical Science 16(2), 2001).
    """
    if n <= 0 or not 0 <= successes <= n or not 0 < confidence < 1:
        raise CriterionError(f"a Wilson interval needs 0 <= successes <= n, n > 0 and "
                             f"0 < confidence < 1 (got {successes}, {n}, {confidence})")
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def live_accuracy(predictions: Any, labels: Any, *, metric: str | None = None,
                  min_labels: int = MIN_LABELS, confidence: float = 0.95,
                  seed: int = 0) -> Accuracy:
    """The metric of the labelled rows (rows whose label is missing are left out).

    `metric=None` picks "accuracy" when the labels are categories (text, booleans, integers or
    integral floats with at most 20 values) and "mae" otherwise. MAE's interval is Student's t
    on the absolute errors (a mean: the central limit theorem; Wasserman, "All of Statistics",
    2004, §6.3); RMSE's is a percentile bootstrap of 2,000 resamples (Efron & Tibshirani, "An
    Introduction to the Bootstrap", 1993, ch. 13), seeded so a report is reproducible.
    """
    frame = pd.DataFrame({"p": list(predictions), "y": list(labels)}).dropna()
    metric = metric or _default_metric(frame["y"])
    if metric not in METRICS:
        from ..errors import unknown_name

        raise CriterionError(unknown_name("metric", metric, METRICS))
    n = len(frame)
    if n < min_labels:
        return Accuracy(metric, None, None, None, n, confidence, "none", "inconclusive",
                        f"{n} labelled rows, needs {min_labels - n} more (min_labels="
                        f"{min_labels})")
    if metric == "accuracy":
        hits = int(correct(frame["p"], frame["y"]).sum())
        low, high = wilson_interval(hits, n, confidence)
        return Accuracy(metric, hits / n, low, high, n, confidence, "wilson", "ok")
    try:
        errors = frame["p"].to_numpy(float) - frame["y"].to_numpy(float)
    except (TypeError, ValueError):
        raise CriterionError(f"metric {metric!r} needs numeric predictions and labels; "
                             f"use metric='accuracy' for classes") from None
    if metric == "mae":
        from scipy.stats import t

        a = np.abs(errors)
        half = t.ppf(0.5 + confidence / 2, n - 1) * a.std(ddof=1) / math.sqrt(n)
        return Accuracy(metric, float(a.mean()), float(a.mean() - half),
                        float(a.mean() + half), n, confidence, "t", "ok")
    rng = np.random.default_rng(seed)
    squared = errors ** 2
    boot = np.sqrt(squared[rng.integers(0, n, size=(2000, n))].mean(axis=1))
    low, high = np.quantile(boot, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return Accuracy(metric, float(math.sqrt(squared.mean())), float(low), float(high), n,
                    confidence, "bootstrap", "ok")


def correct(predictions: pd.Series, labels: pd.Series) -> np.ndarray:
    """Which predictions equal their label: as numbers when both are numbers (a float 1.0
    predicted for the label 1 is right), else as text (a class name, a boolean)."""
    predictions = pd.Series(list(predictions))
    labels = pd.Series(list(labels))
    p = pd.to_numeric(predictions, errors="coerce")
    y = pd.to_numeric(labels, errors="coerce")
    numeric = (p.notna() & y.notna()).to_numpy()
    out = (p == y).to_numpy() & numeric
    text = ~numeric  # the rest as text, only where needed: a million rows stay fast
    out[text] = predictions[text].astype(str).to_numpy() == labels[text].astype(str).to_numpy()
    return out


def label_lag(frame: pd.DataFrame) -> dict[str, float | int | None]:
    """How many rows have a label, and how late labels come.

    The lag (median and 90th percentile, seconds) needs the time a label arrived, a
    `label_time` column; without it only the counts are known and the lag is None.
    """
    labelled = frame["label"].notna() if "label" in frame else pd.Series(False, index=frame.index)
    out: dict[str, float | int | None] = {"labelled": int(labelled.sum()), "rows": len(frame),
                                          "lag_p50_s": None, "lag_p90_s": None}
    if "label_time" in frame and labelled.any():
        lag = (frame.loc[labelled, "label_time"].astype(float)
               - frame.loc[labelled, "time"].astype(float)).dropna()
        if len(lag):
            out["lag_p50_s"] = float(lag.quantile(0.5))
            out["lag_p90_s"] = float(lag.quantile(0.9))
    return out


def _default_metric(labels: pd.Series) -> str:
    if not len(labels):
        return "accuracy"
    values = labels.to_numpy()
    if labels.dtype == object and not all(isinstance(v, (int, float, np.number))
                                          and not isinstance(v, bool) for v in values[:200]):
        return "accuracy"
    if labels.dtype == bool:
        return "accuracy"
    numbers = values.astype(float)
    integral = bool(np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)))
    return "accuracy" if integral and labels.nunique() <= 20 else "mae"
