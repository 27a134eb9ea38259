"""Statistics of the production loop: drift, live accuracy, the monitor report and rollout guards.

Pure functions over the prediction log's DataFrame: no I/O, no clock (times are passed in).
numpy and pandas are imported by the modules, scipy only inside the functions that test.
"""

from __future__ import annotations

from . import guards
from .drift import DriftResult, FeatureDrift, detect_drift, feature_drift, histogram, psi
from .intervals import Accuracy, label_lag, live_accuracy, wilson_interval
from .report import MonitorReport, VersionReport

__all__ = [
    "Accuracy",
    "DriftResult",
    "FeatureDrift",
    "MonitorReport",
    "VersionReport",
    "detect_drift",
    "feature_drift",
    "guards",
    "histogram",
    "label_lag",
    "live_accuracy",
    "psi",
    "wilson_interval",
]
