"""One logged request as rows: its input rows beside the predictions MLflow answered.

Parses the formats of MLflow's scoring server (`dataframe_split`, `dataframe_records`,
`instances`, `inputs` as rows or as a dict of columns, CSV) in the prediction log's writer
thread, never on the request path. Features are named from the request's columns, else
`x0..xN`; values that are not scalars are kept as JSON text, as are multi-output predictions.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from typing import Any

__all__ = ["rows_of"]

HASH = "inputs_hash"  # the one input column when the service keeps no inputs


def rows_of(service: str, item: tuple, *, inputs: bool = True) -> list[dict[str, Any]]:
    request_id, start, latency, uri, version, status, body, answer, content_type = item
    features = _features(body, content_type)
    predictions = _predictions(answer) if 200 <= status < 300 else None
    count = len(predictions) if predictions is not None else max(len(features), 1)
    rows = []
    for i in range(count):
        row: dict[str, Any] = {
            "request_id": request_id, "row": i, "time": start, "service": service,
            "model_uri": uri, "version": version, "arm": "stable", "status": status,
            "latency_ms": latency,
            "prediction": _scalar(predictions[i]) if predictions is not None else None,
            "label": None}
        values = features[i] if i < len(features) else {}
        if inputs:
            row.update(values)
        elif values:
            text = json.dumps(values, sort_keys=True, default=str)
            row[HASH] = hashlib.sha256(text.encode()).hexdigest()[:32]
        rows.append(row)
    return rows


def _scalar(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return value


def _features(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """The request's input rows as {feature: value}; [] when the body is not one we know."""
    if "csv" in content_type:
        reader = csv.reader(io.StringIO(body.decode("utf-8", "replace")))
        header = next(reader, [])
        return [{name: _number(v) for name, v in zip(header, line, strict=False)}
                for line in reader]
    try:
        data = json.loads(body)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    if "dataframe_split" in data:
        split = data["dataframe_split"]
        columns = split.get("columns")
        return [_named(line, columns) for line in split.get("data") or []]
    if "dataframe_records" in data:
        return [_named(r, None) for r in data["dataframe_records"] or []]
    rows = data.get("instances", data.get("inputs"))
    if isinstance(rows, dict):  # columns -> values
        names = list(rows)
        columns = [v if isinstance(v, list) else [v] for v in rows.values()]
        return [{n: _value(c[i] if i < len(c) else None)
                 for n, c in zip(names, columns, strict=True)}
                for i in range(max((len(c) for c in columns), default=0))]
    if isinstance(rows, list):
        return [_named(line, None) for line in rows]
    return []


def _named(line: Any, columns: list[str] | None) -> dict[str, Any]:
    if isinstance(line, dict):
        return {str(k): _value(v) for k, v in line.items()}
    if not isinstance(line, list):
        line = [line]
    names = columns if columns and len(columns) == len(line) else [
        f"x{i}" for i in range(len(line))]
    return {str(n): _value(v) for n, v in zip(names, line, strict=True)}


def _value(value: Any) -> Any:
    return json.dumps(value) if isinstance(value, (dict, list)) else value


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _predictions(answer: bytes) -> list[Any] | None:
    try:
        data = json.loads(answer)
    except ValueError:
        return None
    if isinstance(data, dict):
        data = data.get("predictions", data)
    if isinstance(data, dict):  # {output: [values]}: one row per position
        names = list(data)
        columns = [v if isinstance(v, list) else [v] for v in data.values()]
        return [{n: c[i] if i < len(c) else None for n, c in zip(names, columns, strict=True)}
                for i in range(max((len(c) for c in columns), default=0))]
    return data if isinstance(data, list) else [data]
