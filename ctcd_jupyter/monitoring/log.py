"""The prediction log of a service by name, and label files, for front ends and the monitor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import PredictionLogError, ServiceError
from ..services import get_service

__all__ = ["labels_file", "log_of", "predictions"]


def log_of(name: str, home: str | Path | None = None) -> Any:
    """The model service `name` of state folder `home`, as an object with `predictions()` and
    `log_labels()`; `ServiceError` when that service keeps no prediction log."""
    svc = get_service(name, home)
    if not hasattr(svc, "predictions"):
        raise ServiceError(f"service {name!r} is not a model service: it keeps no prediction "
                           "log", service=name)
    return svc


def predictions(name: str, since: Any = None, until: Any = None, version: str | None = None,
                limit: int | None = None, home: str | Path | None = None) -> Any:
    """The logged predictions of service `name` (see `MLFlowDeploymentService.predictions`)."""
    return log_of(name, home).predictions(since=since, until=until, version=version,
                                          limit=limit)


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
                         f"{', '.join(missing)}; found: {', '.join(map(str, frame.columns))})")
    return frame
