"""The bottom layer: the state folder (`folder`) and the SQLite store inside it (`store`)."""

from __future__ import annotations

from .folder import ensure_dir, mlflow_tracking_uri, state_home
from .store import SCHEMA, Store

__all__ = ["SCHEMA", "Store", "ensure_dir", "mlflow_tracking_uri", "state_home"]
