"""The notebook's progress line: one output that updates in place (display_id), in a Jupyter
kernel's main thread only (a terminal would print every update, a background thread would write
into another cell)."""

from __future__ import annotations

import threading
from typing import Any

from IPython import get_ipython
from IPython.display import display

from ..progress import Reporter, set_notebook_reporter

__all__ = ["install", "notebook_line"]


def notebook_line(label: str) -> Reporter | None:
    shell = get_ipython()
    if (shell is None or type(shell).__name__ != "ZMQInteractiveShell"
            or threading.current_thread() is not threading.main_thread()):
        return None
    handle: Any = None

    def report(message: str) -> None:
        nonlocal handle
        bundle = {"text/plain": f"{label}: {message}"}
        if handle is None:
            handle = display(bundle, raw=True, display_id=True)
        else:
            handle.update(bundle, raw=True)

    return report


def install() -> None:
    set_notebook_reporter(notebook_line)
