"""Reference samples for drift: stored with the model version in MLflow, read by every monitor.

`store_reference` keeps a seeded sample (at most 10,000 rows) of the training data, with the
model's own predictions for it, as the artifact `ctcd/reference.parquet` of the version's run and
names it in the version's tag `ctcd.reference`: every serving machine and pipeline that sees the
registry sees it. `reference_for` fetches it once per version into the state folder
(`predictions/SERVICE/references/`), so a monitor asks MLflow only for versions it has not seen;
a version without a stored reference is remembered for a minute, then asked again.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import DeploymentError
from ..model_server.model_uri import parse_models_uri

__all__ = ["MAX_ROWS", "TAG", "reference_for", "reference_frame", "store_reference"]

MAX_ROWS = 10_000
TAG = "ctcd.reference"
ARTIFACT = "ctcd/reference.parquet"
_RETRY_MISSING = 60.0  # seconds before asking MLflow again about a version with no reference
_missing: dict[tuple[str, str, str], float] = {}


def reference_frame(data: Any, model: Any = None, *, columns: list[str] | None = None,
                    max_rows: int = MAX_ROWS, seed: int = 0) -> Any:
    """`data` (a DataFrame, an array or a list of rows) as the reference sample: at most
    `max_rows` rows drawn with `seed`, columns named like the logged features (the frame's own
    names, else `columns`, else x0..xN), plus `prediction` (the model's answers) when `model` is
    given. `DeploymentError` when it is empty or not a table of numbers and text."""
    import numpy as np
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        frame = data.copy()
        frame.columns = [str(c) for c in frame.columns]
    else:
        values = np.asarray(data, dtype=object)
        if values.ndim == 1:
            values = values.reshape(-1, 1)
        if values.ndim != 2:
            raise DeploymentError(f"reference must be a table (rows of features), not an array "
                                  f"of shape {values.shape}")
        names = columns if columns and len(columns) == values.shape[1] else [
            f"x{i}" for i in range(values.shape[1])]
        frame = pd.DataFrame(values, columns=names).infer_objects()
    if not len(frame) or not len(frame.columns):
        raise DeploymentError("reference is empty: give the training features (e.g. "
                              "reference=X_train)")
    if len(frame) > max_rows:
        frame = frame.sample(n=max_rows, random_state=seed).sort_index()
    if model is not None:
        # the model sees the sample as it saw its training data: a frame, or plain rows
        given = frame.copy() if isinstance(data, pd.DataFrame) else frame.to_numpy()
        predicted = np.asarray(model.predict(given))
        if predicted.ndim == 1 and len(predicted) == len(frame):
            frame["prediction"] = predicted
    return frame.reset_index(drop=True)


def store_reference(client: Any, model_name: str, version: str, run_id: str,
                    frame: Any) -> None:
    """Keep `frame` (from `reference_frame`) with version `version` of `model_name`."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "reference.parquet"
        frame.to_parquet(path, index=False)
        client.log_artifact(run_id, str(path), os.path.dirname(ARTIFACT))
    client.set_model_version_tag(model_name, version, TAG, f"{ARTIFACT} ({len(frame)} rows)")


def reference_for(home: Path, service: str, model_uri: str | None, version: str | None,
                  tracking_uri: str | None) -> Any:
    """The reference stored with the version that `model_uri`/`version` names, or None (no
    registry version, nothing stored, or the registry unreachable: the monitor then uses the
    version's first logged rows and says so)."""
    name, parsed_version, _ = parse_models_uri(model_uri or "") or (None, None, None)
    version = version or parsed_version
    if not name or not version:
        return None
    cached = Path(home) / "predictions" / service / "references" / f"{name}-{version}.parquet"
    import pandas as pd

    if cached.exists():
        with contextlib.suppress(OSError, ValueError):
            return pd.read_parquet(cached)
    key = (str(tracking_uri), name, str(version))
    if time.monotonic() - _missing.get(key, -_RETRY_MISSING) < _RETRY_MISSING:
        return None
    try:
        frame = _download(tracking_uri, name, str(version), cached)
    except Exception:  # an unreachable or older registry: no stored reference
        frame = None
    if frame is None:
        _missing[key] = time.monotonic()
    return frame


def _download(tracking_uri: str | None, name: str, version: str, cached: Path) -> Any:
    import pandas as pd
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    found = client.get_model_version(name, version)
    if TAG not in (found.tags or {}) or not found.run_id:
        return None
    with tempfile.TemporaryDirectory() as folder:
        path = client.download_artifacts(found.run_id, ARTIFACT, folder)
        frame = pd.read_parquet(path)
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, cached)
    return frame
