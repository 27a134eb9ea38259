"""Progress of a slow service action (a start): one self-updating line in a notebook cell,
lines on stderr, or a callback; shared by every service kind."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["reporter"]


def reporter(name: str, progress: bool | Callable[[str], None] | None,
              ) -> Callable[[str], None]:
    if callable(progress):
        return progress
    if progress is None:
        return _notebook_reporter(name) or (lambda message: None)
    if progress:
        return lambda message: print(f"[{name}] {message}", file=sys.stderr, flush=True)
    return lambda message: None


def _notebook_reporter(name: str) -> Callable[[str], None] | None:
    """One output line that updates in place, in a Jupyter kernel's main thread only (a
    terminal would print every update, a background thread would write into another cell)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if (shell is None or type(shell).__name__ != "ZMQInteractiveShell"
            or threading.current_thread() is not threading.main_thread()):
        return None
    from IPython.display import display

    handle: Any = None

    def report(message: str) -> None:
        nonlocal handle
        bundle = {"text/plain": f"{name}: {message}"}
        if handle is None:
            handle = display(bundle, raw=True, display_id=True)
        else:
            handle.update(bundle, raw=True)

    return report
