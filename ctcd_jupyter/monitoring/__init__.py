"""Production monitoring of model services: the prediction log as front ends and the monitor get
it (one DataFrame of rows and labels per service), and the statistics of the production loop:
drift, live accuracy, the monitor report and rollout guards.

The log's storage and its reader live beside the model server (`services/prediction_*.py`: the
server program runs them with nothing of ctcd_jupyter imported, and the service's own
`predictions()`/`log_labels()` sit below this layer). The statistics are pure functions over the
log's DataFrame: no I/O, no clock (times are passed in); scipy only inside the functions that test.
"""

from __future__ import annotations

from . import guards
from .drift import DriftResult, FeatureDrift, detect_drift, feature_drift, histogram, psi
from .intervals import Accuracy, label_lag, live_accuracy, wilson_interval
from .log import labels_file, log_of, predictions
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
    "labels_file",
    "live_accuracy",
    "log_of",
    "predictions",
    "psi",
    "wilson_interval",
]
