"""What the panels share: status colours, isolated callbacks and background actions."""

from __future__ import annotations

import threading
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as widgets
import traitlets

from ..views.format import TONE_COLOURS, colour

__all__ = ["Panel", "badge"]

def badge(state: str) -> str:
    return f"<span style='color:{colour(state)};font-weight:600'>{escape(state)}</span>"


class Panel(widgets.VBox):
    """A VBox whose callbacks are isolated (an exception becomes the `message`, the other
    controls keep working) and whose slow actions run on a thread, updating traits only."""

    message = traitlets.Unicode("")  # the last action's outcome or error, shown under the panel

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._status = widgets.HTML()
        self._pending: threading.Thread | None = None
        self._update_lock = threading.RLock()
        self.observe(self._show_message, names="message")

    def _show_message(self, change: dict) -> None:
        text = change["new"]
        shade = TONE_COLOURS["error" if text.startswith("error") else "text"]
        self._status.value = f"<span style='color:{shade}'>{escape(text)}</span>" if text else ""

    def _safe(self, callback: Callable[..., Any]) -> Callable[..., None]:
        def handler(*args: Any) -> None:
            try:
                callback(*args)
            except Exception as exc:  # one failing control must not break the others
                self.message = f"error: {exc}"
        return handler

    def _in_background(self, label: str, action: Callable[[], str | None]) -> None:
        """Run a slow action (start, stop) off the kernel's main thread."""
        self.message = f"{label} ..."

        def work() -> None:
            try:
                done = action()
                self.message = done or f"{label}: done"
            except Exception as exc:
                self.message = f"error: {label}: {exc}"
            finally:
                self.refresh()

        self._pending = threading.Thread(target=work, name="ctcd-widget-action", daemon=True)
        self._pending.start()

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Block until the last background action finished (for scripts and tests)."""
        if self._pending is not None:
            self._pending.join(timeout)
            if self._pending.is_alive():
                raise TimeoutError(f"widget action still running after {timeout:g} s")

    def refresh(self, *_: Any) -> None:
        with self._update_lock:
            self._update()

    def _update(self) -> None:
        raise NotImplementedError
