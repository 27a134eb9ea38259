"""The statistics of the production loop: drift, live accuracy, the monitor report and rollout
guards, over the prediction log's rows (one DataFrame per service).

The log's storage lives in the model server program (`model_server/prediction_*.py`), its reader
and the service's `predictions()`/`log_labels()`/`monitor()` in services/ (above this layer,
which they call). The statistics are pure functions over DataFrames: no I/O, no clock (times are
passed in); scipy only inside the functions that test.
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
