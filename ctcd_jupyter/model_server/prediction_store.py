"""Which prediction log a service writes and reads: PostgreSQL when asked, else the state folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from .prediction_log import ParquetLog, PredictionLog

__all__ = ["ENV", "open_log"]

ENV = "CTCD_PREDICTION_LOG"


def open_log(home: str | Path, location: str | None = None) -> PredictionLog:
    """The log of state folder `home`: `location` (a service option), else $CTCD_PREDICTION_LOG,
    else Parquet segments in the state folder (a path: Parquet segments there)."""
    location = location or os.environ.get(ENV) or ""
    if location.startswith(("postgresql:", "postgres:", "postgresql+psycopg2:")):
        from .prediction_pg import PostgresLog

        return PostgresLog(location)
    return ParquetLog(Path(location) if location else Path(home) / "predictions")
