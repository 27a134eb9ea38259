"""Request bodies for MLflow's `/invocations` and predictions out of its answers.

pandas and numpy are imported only when the data is of their types.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["decode", "encode"]


def _module(obj: object) -> str:
    return type(obj).__module__.split(".", 1)[0]


def encode(data: Any, columns: Sequence[str] | None = None) -> bytes:
    """JSON body for `data`: a DataFrame, ndarray, list of records, list of rows, or a dict of
    columns (or one record as a dict of scalars). Rows without names get `columns` when known.
    """
    if _module(data) == "pandas":
        import pandas as pd

        if isinstance(data, pd.Series):
            data = data.to_frame().T if data.name is None else data.to_frame()
        if all(dtype.kind in "biuf" for dtype in data.dtypes):
            # 30x faster than to_json for small frames: the one-row case is the hot path.
            split = {"columns": [str(c) for c in data.columns], "data": data.values.tolist()}
            return json.dumps({"dataframe_split": split}).encode()
        # to_json gets dates, NaN in object columns and other dtypes right.
        return b'{"dataframe_split": ' + data.to_json(orient="split", index=False).encode() + b"}"
    if _module(data) == "numpy":
        data = data.tolist()
        if data and not isinstance(data[0], list):
            data = [data] if columns and len(columns) == len(data) else data
    if isinstance(data, Mapping):
        values = list(data.values())
        if values and all(isinstance(v, (list, tuple)) or _module(v) in ("numpy", "pandas")
                          for v in values):
            cols = [list(v.tolist() if hasattr(v, "tolist") else v) for v in values]
            body = {"dataframe_split": {"columns": list(data), "data": [list(r) for r in
                                                                         zip(*cols, strict=False)]}}
        else:
            body = {"dataframe_records": [dict(data)]}
    elif isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        rows = list(data)
        if rows and all(isinstance(r, Mapping) for r in rows):
            body = {"dataframe_records": rows}
        elif columns and rows and all(isinstance(r, (list, tuple)) for r in rows):
            body = {"dataframe_split": {"columns": list(columns), "data": rows}}
        else:
            body = {"inputs": rows}
    else:
        raise TypeError(
            f"cannot send {type(data).__name__} to a prediction server: pass a DataFrame, an "
            "ndarray, a list of records or rows, or a dict of columns")
    return json.dumps(body, default=_default).encode()


def _default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def decode(body: bytes) -> Any:
    """Predictions from the server's answer: an ndarray for values, a DataFrame for records or
    columns, else what the server sent."""
    answer = json.loads(body)
    predictions = answer.get("predictions", answer) if isinstance(answer, dict) else answer
    if isinstance(predictions, list):
        if predictions and isinstance(predictions[0], dict):
            import pandas as pd

            return pd.DataFrame.from_records(predictions)
        import numpy as np

        try:
            return np.asarray(predictions)
        except ValueError:  # ragged
            return predictions
    if isinstance(predictions, dict) and predictions and all(
            isinstance(v, list) for v in predictions.values()):
        import pandas as pd

        return pd.DataFrame(predictions)
    return predictions
