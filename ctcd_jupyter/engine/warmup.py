"""MLflow imported ahead of the first tracked run: `%load_ext` starts the import on a daemon
thread (it costs 1.5-4 s), and a run that needs MLflow before it is ready says it is waiting.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Callable

__all__ = ["MODULES", "importing", "start", "wait"]

# What tracking imports on a run's first use of MLflow (engine/tracking.py).
MODULES = ("mlflow", "mlflow.tracking", "mlflow.entities")

_thread: threading.Thread | None = None
_lock = threading.Lock()


def _import() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # not installed or broken: the run says so itself
            return


def start() -> threading.Thread | None:
    """Start importing MLflow in the background (once per process); returns at once."""
    global _thread
    with _lock:
        if _thread is not None or all(name in sys.modules for name in MODULES):
            return _thread
        _thread = threading.Thread(target=_import, name="ctcd-mlflow-import", daemon=True)
        _thread.start()
        return _thread


def importing() -> bool:
    """True while the background import runs (`mlflow` may already be in sys.modules, half
    imported: only the thread knows when it is done)."""
    return _thread is not None and _thread.is_alive()


def wait(report: Callable[[str], None] | None = None) -> None:
    """Block until the background import finished, telling `report` first if it must wait.
    Joining is safe: a run's own `import mlflow` would block on the module's lock anyway."""
    thread = _thread
    if thread is None or not thread.is_alive() or thread is threading.current_thread():
        return
    if report is not None:
        report("waiting for MLflow to import…")
    thread.join()
