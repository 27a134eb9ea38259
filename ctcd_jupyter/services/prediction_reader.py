"""Reading the prediction log: rows with their labels joined, as one pandas DataFrame.

Shared by `svc.predictions()`, `ctcd predictions` and the monitor. Works from any process that
shares the state folder (or the PostgreSQL log) with the server: it reads what was flushed.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from ..errors import PredictionLogError
from ..model_server.prediction_log import COLUMNS, ROW, PredictionLog
from ..model_server.prediction_writer import parse_duration

__all__ = ["moment", "read_predictions"]


def moment(value: Any) -> float | None:
    """Epoch seconds of `value`: None, a number of epoch seconds, a datetime, or a duration
    back from now ("1h", "30m", "7d")."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.astimezone()
        return value.timestamp()
    if isinstance(value, (int, float)):
        return float(value)
    if hasattr(value, "timestamp"):  # a pandas Timestamp
        return float(value.timestamp())
    try:
        return time.time() - float(parse_duration(str(value)))  # type: ignore[arg-type]
    except ValueError:
        raise PredictionLogError(f"{value!r} is not a time: give epoch seconds, a datetime or a "
                         "duration back from now such as '1h', '30m', '7d'") from None


def read_predictions(log: PredictionLog, service: str, since: Any = None, until: Any = None,
                     version: str | None = None, limit: int | None = None, *,
                     oldest: bool = False, label_times: bool = False) -> Any:
    """The rows of `service` (oldest first, at most the newest `limit`, or the oldest with
    `oldest`), labels joined: the columns of `COLUMNS`, then one per input feature (after
    `label_time`, when a label arrived, with `label_times`)."""
    if limit is not None and int(limit) < 0:
        raise PredictionLogError(f"limit must be 0 or more, not {limit}")
    rows = log.read(service, moment(since), moment(until),
                    None if version is None else str(version),
                    None if limit is None else int(limit), oldest=oldest)
    rows["label_time"] = None
    if len(rows):
        labels = log.labels(service)
        if len(labels):
            rows["label"] = _join(rows, labels, "label")
            rows["label_time"] = _join(rows, labels, "time")
    features = [c for c in rows.columns if c not in (*COLUMNS, ROW, "label_time")]
    frame = rows.reindex(columns=[*COLUMNS, *(["label_time"] if label_times else []),
                                  *features])
    if not len(frame):
        frame = frame.astype({"time": float, "status": int, "latency_ms": float})
    return frame.reset_index(drop=True)


def _join(rows: Any, labels: Any, column: str) -> Any:
    """Each row's label (`column` "label", or "time" it arrived): the last one sent for its
    row, else for its whole request."""
    import pandas as pd

    labels = labels.sort_values("time", kind="stable").drop_duplicates(
        ["request_id", ROW], keep="last")
    whole = labels[labels[ROW] == -1].set_index("request_id")[column]
    per_row = labels[labels[ROW] != -1].set_index(["request_id", ROW])[column]
    result = rows["request_id"].map(whole)
    if len(per_row):
        keys = pd.MultiIndex.from_arrays([rows["request_id"], rows[ROW].astype("int64")])
        exact = pd.Series(per_row.reindex(keys).to_numpy(), index=rows.index)
        result = exact.where(exact.notna(), result)
    return result.astype(object).where(result.notna(), None)
