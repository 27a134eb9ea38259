"""Where ctcd keeps its state: `$CTCD_HOME`, else `.ctcd/` in the working directory.

Folders are created 0700 and files 0600: the state holds models, logs and data.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ensure_dir", "mlflow_tracking_uri", "state_home"]


def state_home(home: str | os.PathLike | None = None) -> Path:
    """The state folder (created on first use), from `home`, `$CTCD_HOME` or `./.ctcd`."""
    path = Path(home or os.environ.get("CTCD_HOME") or Path.cwd() / ".ctcd").expanduser()
    return ensure_dir(path.resolve())


def ensure_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def mlflow_tracking_uri(home: Path) -> str:
    """`$MLFLOW_TRACKING_URI` if set, else a SQLite store inside the state folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
