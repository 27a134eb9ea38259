"""Where ctcd keeps its state: `$CTCD_HOME`, else `.ctcd/` in the working directory.

Folders are created 0700 and files 0600: the state holds models, logs and data.
"""

from __future__ import annotations

import os
import stat
import warnings
from pathlib import Path

from ..errors import StateError

__all__ = ["check_private", "ensure_dir", "mlflow_tracking_uri", "state_home"]


def state_home(home: str | os.PathLike | None = None) -> Path:
    """The state folder (created on first use), from `home`, `$CTCD_HOME` or `./.ctcd`."""
    path = Path(home or os.environ.get("CTCD_HOME") or Path.cwd() / ".ctcd").expanduser()
    return check_private(ensure_dir(path.resolve()))


def check_private(path: Path) -> Path:
    """Refuse a state folder that others could write: ctcd loads pickled step outputs and
    starts the services recorded there, so whoever can write it can run code as you."""
    try:
        info = path.stat()
    except OSError:
        return path
    if info.st_uid != os.geteuid():
        raise StateError(f"state folder {path} belongs to another user (uid {info.st_uid}); "
                         f"use a folder of your own (CTCD_HOME)", path=str(path))
    if info.st_mode & 0o002:
        raise StateError(f"state folder {path} is writable by every user (mode "
                         f"{stat.filemode(info.st_mode)}): run `chmod 700 {path}`, or use "
                         f"another folder (CTCD_HOME)", path=str(path))
    if info.st_mode & 0o020:
        warnings.warn(f"ctcd: state folder {path} is writable by its group (mode "
                      f"{stat.filemode(info.st_mode)}); members of the group can run code as "
                      f"you through it: `chmod 700 {path}`", stacklevel=3)
    return path


def ensure_dir(path: Path) -> Path:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot create the folder {path}: {exc.strerror or exc}; create it "
                         f"yourself or set CTCD_HOME to a folder you can write",
                         path=str(path)) from None
    return path


def mlflow_tracking_uri(home: Path) -> str:
    """`$MLFLOW_TRACKING_URI` if set, else a SQLite store inside the state folder."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
