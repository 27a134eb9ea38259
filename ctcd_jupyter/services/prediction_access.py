"""What a model service offers on its prediction log: options, reading it, labelling it.

A mixin of `MLFlowDeploymentService`; the server writes the log (prediction_writer.py).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import PredictionLogError, ServiceError
from ..model_server.prediction_labels import LabelResult, apply_labels
from ..model_server.prediction_log import PredictionLog
from ..model_server.prediction_store import ENV, open_log
from ..model_server.prediction_writer import parse_duration
from .prediction_reader import read_predictions

__all__ = ["PredictionAccess", "labels_file", "log_of", "log_options"]


def log_of(name: str, home: str | Path | None = None) -> Any:
    """The model service `name` of state folder `home` (one with `predictions()`,
    `log_labels()` and `monitor()`); `ServiceError` when that service keeps no prediction log."""
    from .registry import get_service

    svc = get_service(name, home)
    if not isinstance(svc, PredictionAccess):
        raise ServiceError(f"service {name!r} is not a model service: it keeps no prediction "
                           "log", service=name)
    return svc


def labels_file(path: str | Path) -> Any:
    """The labels of a CSV file with the columns `request_id` and `label`, as a DataFrame;
    `PredictionLogError` naming the file when it has not those columns."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype={"request_id": str})
    except (OSError, ValueError) as exc:
        raise PredictionLogError(f"cannot read labels from {path}: {exc}") from None
    missing = [c for c in ("request_id", "label") if c not in frame.columns]
    if missing:
        raise PredictionLogError(f"{path} needs the columns request_id and label (missing: "
                                 f"{', '.join(missing)}; found: "
                                 f"{', '.join(map(str, frame.columns))})")
    return frame


def log_options(log_predictions: bool = True, log_inputs: bool = True, log_sample: float = 1.0,
                log_retention: str | float | None = "30d", prediction_log: str | None = None,
                prediction_log_max_bytes: int | None = None) -> dict[str, Any]:
    """The prediction log options of a service, checked (one place for their errors)."""
    if not 0.0 < float(log_sample) <= 1.0:
        raise ValueError(f"log_sample must be in (0, 1], not {log_sample}")
    try:
        parse_duration(log_retention)
    except ValueError:
        raise ValueError(f"log_retention must be a duration such as '30d' or '12h', not "
                         f"{log_retention!r}") from None
    if prediction_log_max_bytes is not None and int(prediction_log_max_bytes) <= 0:
        raise ValueError("prediction_log_max_bytes must be positive, not "
                         f"{prediction_log_max_bytes}")
    return {"log_predictions": bool(log_predictions), "log_inputs": bool(log_inputs),
            "log_sample": float(log_sample), "log_retention": log_retention,
            "prediction_log": prediction_log,
            "prediction_log_max_bytes": None if prediction_log_max_bytes is None
            else int(prediction_log_max_bytes)}


class PredictionAccess:
    config: dict[str, Any]
    _name: str
    home: Any

    def _log_location(self) -> str | None:
        return self.config.get("prediction_log") or os.environ.get(ENV) or None

    def _server_log_config(self) -> dict[str, Any]:
        """The "prediction_log" block of the server's `server.json`."""
        return {"enabled": self.config.get("log_predictions", True),
                "inputs": self.config.get("log_inputs", True),
                "sample": self.config.get("log_sample", 1.0),
                "retention": self.config.get("log_retention", "30d"),
                "max_bytes": self.config.get("prediction_log_max_bytes"),
                "location": self._log_location()}

    @property
    def prediction_log(self) -> PredictionLog:
        """Where this service's predictions are logged."""
        return open_log(self.home, self._log_location())

    def predictions(self, since: Any = None, until: Any = None, version: str | None = None,
                    limit: int | None = None) -> Any:
        """The logged predictions as a pandas DataFrame, oldest first: request_id, time (epoch
        seconds), service, model_uri, version, arm, status, latency_ms, prediction, label
        (None until known), then one column per input feature. `since`/`until`: epoch seconds,
        a datetime, or a duration back from now ("1h"); `limit`: the newest N rows."""
        log = self.prediction_log
        try:
            return read_predictions(log, self._name, since, until, version, limit)
        finally:
            log.close()

    def log_labels(self, labels: Any) -> LabelResult:
        """Join true outcomes to logged predictions: a mapping request_id -> label, or a
        DataFrame with `request_id` and `label` columns. A label that is a list as long as a
        batch request's rows labels each row; otherwise it labels every row of the request.
        Returns the counts (`.joined`, `.unknown`, `.replaced`, `.invalid`)."""
        pairs = _pairs(labels)
        self._flush_server_log()
        log = self.prediction_log
        try:
            return apply_labels(log, self._name, pairs)
        finally:
            log.close()

    def monitor(self, window: str | float | None = "1h", *, now: float | None = None,
                min_labels: int = 50, metric: str | None = None) -> Any:
        """The monitor report (`monitoring.report.MonitorReport`) of the last `window` ("1h",
        "30m", seconds; None: everything logged) up to `now` (epoch seconds, default now): per
        served version requests, error rate, latency p50/p99, labelled rows and label lag, live
        accuracy (or `metric` for regression) with its 95 % Wilson interval from `min_labels`
        labels on, and drift per feature and of the predictions against the version's reference
        (stored with it by `mlflow_deploy(reference=...)`, else its first 1,000 logged rows).
        `.drifted`, `.to_frame()`, `.to_dict()` (the JSON shape of `ctcd monitor --json`)."""
        from ..monitoring.report import REFERENCE_ROWS, MonitorReport
        from .references import reference_for

        try:
            seconds = None if window is None else float(parse_duration(window))
        except ValueError:
            seconds = -1.0
        if seconds is not None and not seconds > 0:
            raise PredictionLogError(f"window must be a positive duration such as '1h' or "
                                     f"'30m' (or None for everything), not {window!r}")
        now = time.time() if now is None else float(now)
        status = self._flush_server_log()
        log = self.prediction_log
        try:
            rows = read_predictions(log, self._name, None if seconds is None else now - seconds,
                                    now, label_times=True)
            references: dict[str, Any] = {}
            for (version, uri), _ in rows.groupby(["version", "model_uri"], dropna=False,
                                                   sort=False):
                key = str(version) if isinstance(version, str) else str(uri)
                stored = reference_for(self.home, self._name, uri, version
                                       if isinstance(version, str) else None,
                                       self.config.get("tracking_uri"))
                if stored is not None:
                    references[key] = (stored, f"stored with the model version "
                                               f"({len(stored):,} rows)")
                elif isinstance(version, str):
                    first = read_predictions(log, self._name, version=version,
                                             limit=REFERENCE_ROWS, oldest=True, labels=False)
                    references[key] = (first, f"first {len(first):,} logged rows "
                                              "(no reference stored)")
        finally:
            log.close()
        dropped = ((status or {}).get("prediction_log") or {}).get("dropped")
        return MonitorReport(rows, references, seconds, now=now, min_labels=min_labels,
                             metric=metric, dropped=dropped)

    def _flush_server_log(self) -> dict[str, Any] | None:
        """Have a running server write the rows it holds, so fresh request ids are known; its
        status after that (None when it is not running)."""
        with contextlib.suppress(ServiceError):  # not running: what it wrote is all there is
            self._control("POST", "/ctcd/flush-log", {}, timeout=10.0)  # type: ignore
            return self.server_status()  # type: ignore[attr-defined]
        return None


def _pairs(labels: Any) -> list[tuple[str, Any]]:
    if isinstance(labels, Mapping):
        return [(str(k), v) for k, v in labels.items()]
    columns = getattr(labels, "columns", None)
    if columns is not None:
        if "request_id" not in columns or "label" not in columns:
            raise PredictionLogError("labels need the columns 'request_id' and 'label'; got "
                             f"{', '.join(map(str, columns))}")
        return [(str(r), v) for r, v in zip(labels["request_id"], labels["label"], strict=True)]
    raise PredictionLogError("labels must be a mapping request_id -> label or a DataFrame with "
                    f"'request_id' and 'label' columns, not {type(labels).__name__}")
