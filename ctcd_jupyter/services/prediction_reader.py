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
                     oldest: bool = False, label_times: bool = False,
                     labels: bool = True) -> Any:
    """The rows of `service` (oldest first, at most the newest `limit`, or the oldest with
    `oldest`), labels joined: the columns of `COLUMNS`, then one per input feature (after
    `label_time`, when a label arrived, with `label_times`). `labels=False`: no labels
    joined (all None), for readers that do not look at them."""
    if limit is not None and int(limit) < 0:
        raise PredictionLogError(f"limit must be 0 or more, not {limit}")
    rows = log.read(service, moment(since), moment(until),
                    None if version is None else str(version),
                    None if limit is None else int(limit), oldest=oldest)
    rows["label_time"] = None
    if len(rows) and labels:
        sent = log.labels(service)
        if len(sent):
            rows["label"], rows["label_time"] = _join(rows, sent)
    features = [c for c in rows.columns if c not in (*COLUMNS, ROW, "label_time")]
    frame = rows.reindex(columns=[*COLUMNS, *(["label_time"] if label_times else []),
                                  *features])
    if not len(frame):
        frame = frame.astype({"time": float, "status": int, "latency_ms": float})
    return frame.reset_index(drop=True)


def _join(rows: Any, labels: Any) -> tuple[Any, Any]:
    """Each row's label and the time it arrived: the last one sent for its row, else for its
    whole request (None when there is none). Matched in Arrow (`index_in` on the ids): a
    million rows against 100,000 labels in ~0.1 s, where pandas' map took ~0.5 s."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    labels = labels.sort_values("time", kind="stable").drop_duplicates(
        ["request_id", ROW], keep="last")
    column = rows["request_id"]
    ids = pa.array(column.array) if hasattr(column.array, "__arrow_array__") \
        else pa.array(column.astype(str).to_numpy(), pa.string())  # Arrow-backed: no copy
    label = np.full(len(rows), None, dtype=object)
    when = np.full(len(rows), np.nan)
    whole = labels[labels[ROW] == -1]
    per_row = labels[labels[ROW] != -1]
    keys = ids
    if len(per_row):
        sep = pa.scalar("\x1f")
        keys = pc.binary_join_element_wise(
            ids.cast(pa.string()), pc.cast(pa.array(rows[ROW].to_numpy("int64")), pa.string()),
            sep)
    for found, values, key in ((whole, label, ids), (per_row, label, keys)):
        if not len(found):
            continue
        wanted = found["request_id"].astype(str)
        if found is per_row:
            wanted = wanted + "\x1f" + found[ROW].astype("int64").astype(str)
        position = pc.fill_null(pc.index_in(key, value_set=pa.array(wanted.to_numpy(),
                                                                     pa.string())), -1)
        position = position.to_numpy(zero_copy_only=False)
        hit = position >= 0
        values[hit] = found["label"].to_numpy(object)[position[hit]]
        when[hit] = found["time"].to_numpy(float)[position[hit]]
    return label, np.where(np.isnan(when), None, when).astype(object)
