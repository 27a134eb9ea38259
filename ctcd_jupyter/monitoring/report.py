"""The monitor report of a service: per served version, traffic, errors, latency, labels, live
accuracy, and drift of each feature and of the predictions against the version's reference."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..errors import CriterionError
from .drift import MIN_WINDOW, DriftResult, FeatureDrift, detect_drift, histogram
from .guards import ERROR_STATUS
from .intervals import MIN_LABELS, Accuracy, label_lag, live_accuracy
from .jsonable import json_safe

__all__ = ["LOG_COLUMNS", "MonitorReport", "VersionReport"]

# The prediction log's own columns; every other column is an input feature.
LOG_COLUMNS = ("request_id", "time", "service", "model_uri", "version", "arm", "status",
               "latency_ms", "prediction", "label", "label_time", "row")
REFERENCE_ROWS = 1000  # without a stored reference, a version's first logged rows are its own
DRIFT_SAMPLE = 50_000  # window rows the drift statistics read at most (_drift_sample)
FRAME_COLUMNS = ["version", "kind", "name", "value", "low", "high", "test", "p_value", "psi",
                 "verdict", "n"]


@dataclass
class VersionReport:
    """What the log says about one served version in the window."""

    version: str
    model_uri: str | None
    requests: int
    errors: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    labels: dict[str, Any]
    accuracy: Accuracy
    drift: DriftResult
    prediction_drift: FeatureDrift | None
    reference: str  # where the reference came from, said in every view
    histograms: dict[str, dict[str, Any]]  # per feature and "prediction": drift.histogram
    timeline: dict[str, Any] | None = None  # requests and errors per time bucket (timeline())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: numbers, text, lists (NaN as None)."""
        acc = self.accuracy
        return json_safe({
            "version": self.version, "model_uri": self.model_uri, "reference": self.reference,
            "requests": self.requests, "errors": self.errors, "error_rate": self.error_rate,
            "latency_p50_ms": self.latency_p50_ms, "latency_p99_ms": self.latency_p99_ms,
            "labels": self.labels, "accuracy": acc.__dict__, "drifted": self.drifted,
            "features": [f.__dict__ for f in self.drift.features],
            "prediction_drift": None if self.prediction_drift is None
            else self.prediction_drift.__dict__,
            "histograms": self.histograms, "timeline": self.timeline})

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def drifted(self) -> bool:
        return self.drift.drifted or (self.prediction_drift is not None
                                      and self.prediction_drift.verdict == "drift")

    def rows(self) -> list[dict[str, Any]]:
        def metric(name: str, value: Any, **more: Any) -> dict[str, Any]:
            return {"version": self.version, "kind": "metric", "name": name, "value": value,
                    **more}

        acc = self.accuracy
        rows = [metric("requests", self.requests), metric("error_rate", self.error_rate,
                                                          n=self.requests),
                metric("latency_p50_ms", self.latency_p50_ms),
                metric("latency_p99_ms", self.latency_p99_ms),
                metric("labelled", self.labels["labelled"], n=self.labels["rows"]),
                metric("label_lag_p50_s", self.labels["lag_p50_s"]),
                metric(acc.metric, acc.value, low=acc.low, high=acc.high, test=acc.method,
                       verdict=acc.state, n=acc.n)]
        drifts = [("feature", f) for f in self.drift.features]
        if self.prediction_drift is not None:
            drifts.append(("prediction", self.prediction_drift))
        for kind, f in drifts:
            rows.append({"version": self.version, "kind": kind, "name": f.feature,
                         "value": f.distance if f.distance is not None else f.statistic,
                         "test": f.test, "p_value": f.q_value, "psi": f.psi,
                         "verdict": f.verdict, "n": f.n})
        return rows


class MonitorReport:
    """Per served version: requests, error rate, latency p50/p99, labelled rows and label lag,
    live accuracy with its interval, and drift per feature and of the predictions.

    Built from the prediction log's rows (`svc.predictions()`), the reference samples per
    version (`{version: DataFrame}` of features, with a `prediction` column for prediction
    drift; or `{version: (DataFrame, source)}`, `source` saying where it came from, in the
    views) and a window in seconds ending at `now` (default: the newest row; no clock here).
    A version without a reference uses its first 1,000 logged rows, left out of its window
    (as are logged rows given as a reference: those with a `request_id`). `dropped`: rows the
    server could not log (from its status), shown beside the counts.
    """

    def __init__(self, log: pd.DataFrame, references: Mapping[str, Any] | None = None,
                 window: float | None = None, *, now: float | None = None,
                 min_labels: int = MIN_LABELS, min_window: int = MIN_WINDOW,
                 metric: str | None = None, dropped: int | None = None):
        missing = [c for c in ("time", "version", "status", "latency_ms", "prediction")
                   if c not in log.columns]
        if missing:
            raise CriterionError(f"the monitor needs the prediction log's columns; missing: "
                                 f"{', '.join(missing)}")
        if window is not None and not window > 0:
            raise CriterionError(f"the window must be a positive number of seconds "
                                 f"(got {window!r})")
        references = {str(k): v for k, v in (references or {}).items()}
        self.now = float(log["time"].max()) if now is None and len(log) else now
        self.window = window
        self.rows_in_log = len(log)
        self.dropped = dropped
        self.versions: list[VersionReport] = []
        version = log["version"]
        if len(log) and version.notna().all() and version.nunique() == 1:
            groups: Any = [(str(version.iloc[0]), log)]  # one version: no groupby copy
        else:
            groups = log.groupby(_version_keys(log), sort=False)  # in order of appearance
        for key, rows in groups:
            if not rows["time"].is_monotonic_increasing:  # the log reads back sorted
                rows = rows.sort_values("time", kind="stable")
            ref = references.get(key)
            if isinstance(ref, tuple):
                ref, source = ref
            elif ref is not None:
                source = f"stored reference ({len(ref):,} rows)"
            if ref is None:
                ref = rows.head(REFERENCE_ROWS)
                rows = rows.iloc[len(ref):]
                source = f"first {len(ref):,} logged rows (no reference stored)"
            elif "request_id" in ref.columns and "request_id" in rows.columns and len(ref):
                twice = rows["request_id"].isin(ref["request_id"])
                if twice.any():
                    rows = rows[~twice]  # a logged reference is not counted again
            if window is not None and self.now is not None:
                inside = rows["time"].astype(float) > self.now - window
                if not inside.all():
                    rows = rows[inside]
            report = _version_report(key, rows, ref, source, min_labels, min_window, metric)
            report.timeline = timeline(rows, self.now, window)
            self.versions.append(report)

    @property
    def drifted(self) -> bool:
        return any(v.drifted for v in self.versions)

    def __getitem__(self, version: str) -> VersionReport:
        for v in self.versions:
            if v.version == str(version):
                return v
        from ..errors import unknown_name

        raise KeyError(unknown_name("version", str(version), [v.version for v in self.versions]))

    def to_frame(self) -> pd.DataFrame:
        """One row per version and metric or feature (`kind`: metric, feature, prediction)."""
        rows = [r for v in self.versions for r in v.rows()]
        return pd.DataFrame(rows, columns=FRAME_COLUMNS)

    def to_dict(self) -> dict[str, Any]:
        """The whole report, JSON-ready (for `--json`, REST and the side panel)."""
        return {"window_s": self.window, "now": self.now, "drifted": self.drifted,
                "dropped": self.dropped, "versions": [v.to_dict() for v in self.versions]}

    def __repr__(self) -> str:
        span = "all rows" if self.window is None else f"last {self.window:g} s"
        lines = [f"MonitorReport({span}, {len(self.versions)} version(s), "
                 f"drifted={self.drifted})"]
        for v in self.versions:
            rate = "-" if v.error_rate is None else f"{v.error_rate:.2%}"
            lines.append(f"version {v.version}: {v.requests} requests, errors {rate}, "
                         f"p50 {_ms(v.latency_p50_ms)}, p99 {_ms(v.latency_p99_ms)}, "
                         f"{v.labels['labelled']} labelled; {v.accuracy}")
            lines.append(f"  reference: {v.reference}")
            flagged = [f for f in v.drift.features if f.verdict in ("warn", "drift")]
            for f in flagged + ([v.prediction_drift] if v.prediction_drift else []):
                lines.append(f"  {f.feature}: {f.verdict} ({f.test}; {f.reason})")
            if not flagged:
                lines.append(f"  features: no drift ({len(v.drift.features)} checked)")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = html.escape(repr(self).splitlines()[0])
        refs = "".join(f"<li>version {html.escape(v.version)}: reference "
                       f"{html.escape(v.reference)}</li>" for v in self.versions)
        table = self.to_frame().to_html(index=False, na_rep="", float_format=lambda x: f"{x:.4g}")
        return f"<div><strong>{head}</strong><ul>{refs}</ul>{table}</div>"


TIMELINE_BUCKETS = 30


def timeline(rows: pd.DataFrame, now: float | None, window: float | None,
             buckets: int = TIMELINE_BUCKETS) -> dict[str, Any] | None:
    """Requests and errors per time bucket: `buckets` equal buckets over the window (over the
    rows' own span without one), as {"start", "step" (seconds), "requests", "errors"}."""
    if now is None or not len(rows):
        return None
    times = rows["time"].to_numpy(float)
    start = now - window if window is not None else float(times.min())
    step = max((now - start) / buckets, 1e-3)
    index = np.clip(((times - start) // step).astype(int), 0, buckets - 1)
    errors = rows["status"].to_numpy(int) >= ERROR_STATUS
    return {"start": start, "step": step,
            "requests": np.bincount(index, minlength=buckets).tolist(),
            "errors": np.bincount(index[errors], minlength=buckets).tolist()}


def _version_keys(log: pd.DataFrame) -> pd.Series:
    """The version of each row, or its model URI when the row has no registry version."""
    version = log["version"].astype(object)
    if "model_uri" in log:
        version = version.where(version.notna(), log["model_uri"])
    return version.fillna("unknown").astype(str)


def _version_report(key: str, rows: pd.DataFrame, ref: pd.DataFrame, source: str,
                    min_labels: int, min_window: int, metric: str | None) -> VersionReport:
    errors = rows["status"].astype(int) >= ERROR_STATUS
    answered = rows[~errors] if errors.any() else rows
    latency = answered["latency_ms"].astype(float).dropna()
    features = [c for c in rows.columns if c not in LOG_COLUMNS and c in ref.columns]
    window = _drift_sample(rows)
    drift = detect_drift(ref[features], window[features], min_window=min_window) if features \
        else DriftResult()
    histograms = {c: histogram(ref[c], window[c]) for c in features}
    prediction = None
    if "prediction" in ref.columns:
        ref_ok = ref[ref["status"].astype(int) < ERROR_STATUS] if "status" in ref else ref
        live = window[window["status"].astype(int) < ERROR_STATUS]
        prediction = detect_drift(ref_ok[["prediction"]], live[["prediction"]],
                                  min_window=min_window).features[0]
        histograms["prediction"] = histogram(ref_ok["prediction"], live["prediction"])
    label = answered["label"] if "label" in answered else pd.Series(None, answered.index, object)
    known = label.notna()
    accuracy = live_accuracy(answered.loc[known, "prediction"], label[known], metric=metric,
                             min_labels=min_labels)
    uri = rows["model_uri"].dropna().iloc[-1] if "model_uri" in rows and \
        rows["model_uri"].notna().any() else None
    return VersionReport(key, uri, len(rows), int(errors.sum()),
                         _quantile(latency, 0.5), _quantile(latency, 0.99), label_lag(rows),
                         accuracy, drift, prediction, source, histograms)


def _drift_sample(rows: pd.DataFrame) -> pd.DataFrame:
    """The window's rows the drift statistics read: all of them up to DRIFT_SAMPLE, else a
    seeded uniform sample of DRIFT_SAMPLE rows. Against a reference of at most 10,000 rows the
    tests' power and the distances are set by the smaller sample: 50,000 window rows give the
    whole window's p-values, PSI and Wasserstein distance to within their own sampling noise
    (PSI's standard error at 50,000 rows is ~0.002, against the 0.1 warn floor), and keep the
    monitor of a million logged rows within its one-second budget. Counts, errors, latency and
    accuracy always use every row."""
    if len(rows) <= DRIFT_SAMPLE:
        return rows
    return rows.sample(n=DRIFT_SAMPLE, random_state=0).sort_index()


def _quantile(values: pd.Series, q: float) -> float | None:
    return float(np.quantile(values.to_numpy(), q)) if len(values) else None


def _ms(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.1f} ms"
