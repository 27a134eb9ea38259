"""What the panels share: status badges, aligned tables whose rows update in place, isolated
callbacks, background actions, and a cheap poll of the store for other processes' changes."""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable, Sequence
from html import escape
from typing import Any

import ipywidgets as widgets
import traitlets

from ..errors import front_end
from ..views.format import TONE_COLOURS, colour

__all__ = ["Panel", "RowTable", "badge", "breakable", "button", "close_all", "heading",
           "log_html"]

POLL_SECONDS = 2.0  # how often a displayed panel looks for changes made by other processes


def badge(state: str, extra: str = "") -> str:
    tail = f" <span style='color:{TONE_COLOURS['muted']}'>{escape(extra)}</span>" if extra else ""
    return f"<span style='color:{colour(state)};font-weight:600'>{escape(state)}</span>{tail}"


def breakable(text: str) -> str:
    """Text with long addresses or names (a URL, a model URI, `mlflow_deployment`) as HTML that
    may wrap after its `/ : @ ? & _` (<wbr>: a copy of it is still the same text)."""
    return "<wbr>".join(escape(part) for part in re.split(r"(?<=[/:@?&_])", text))


def log_html(name: str, text: str) -> str:
    """A log in a scroll box that opens at its newest line and stays there as lines come:
    a column-reverse flex box is anchored at its end by the browser (no script needed, which
    an HTML widget could not run)."""
    body = escape(text.rstrip("\n")) if text.strip() else "(the log is empty)"
    return (f"<div aria-label='log of {escape(name)}' role='log' style='max-height:220px;"
            "overflow:auto;display:flex;flex-direction:column-reverse;"
            f"border:1px solid {TONE_COLOURS['border']}'><pre style='margin:0;padding:4px;"
            "white-space:pre-wrap;font-family:var(--jp-code-font-family, monospace);"
            f"font-size:var(--jp-code-font-size, 12px);color:{TONE_COLOURS['text']}'>"
            f"{body}</pre></div>")


def heading(text: str) -> widgets.HTML:
    return widgets.HTML(f"<b style='color:{TONE_COLOURS['text']}'>{escape(text)}</b>")


def button(label: str, tooltip: str = "", **kwargs: Any) -> widgets.Button:
    """A button as wide as its label (never "pa..."): width auto, no fixed pixel width."""
    return widgets.Button(description=label, tooltip=tooltip or label,
                          layout=widgets.Layout(width="auto", min_width="fit-content",
                                                margin="0 4px 0 0", padding="0 8px"), **kwargs)


def close_all(*items: widgets.Widget) -> None:
    """Close widgets with their layout and style models (`Widget.close()` alone leaves those
    two open in the kernel, a leak of two models per widget)."""
    for item in items:
        for part in (getattr(item, "layout", None), getattr(item, "style", None)):
            if isinstance(part, widgets.Widget):
                part.close()
        item.close()


def _cell(value: str = "") -> widgets.HTML:
    return widgets.HTML(value, layout=widgets.Layout(margin="0", padding="1px 0"))


class _Row:
    """One row of a RowTable: an HTML cell per column and a box of buttons, all reused."""

    def __init__(self, columns: int, verbs: Sequence[str], on_click: Callable[[str], None]):
        self.cells = [_cell() for _ in range(columns)]
        self.buttons = {verb: button(verb) for verb in verbs}
        for verb, widget in self.buttons.items():
            widget.on_click(lambda _b, verb=verb: on_click(verb))
        self.actions = widgets.HBox(list(self.buttons.values()),
                                    layout=widgets.Layout(flex_flow="row nowrap"))

    @property
    def widgets(self) -> list[widgets.Widget]:
        # the buttons right after the row's name: in a narrow notebook the table scrolls
        # sideways, and what scrolls out of view must be the details, not the controls
        return [self.cells[0], self.actions, *self.cells[1:]]

    def set(self, values: Sequence[str], enabled: dict[str, bool | None]) -> None:
        for cell, value in zip(self.cells, values, strict=True):
            # values wrap (between words, and after the / of an address) rather than widen the
            # table past the notebook, where they would be cut off behind a scroll bar
            value = (f"<div style='white-space:normal;overflow-wrap:break-word;"
                     f"line-height:1.35'>{value}</div>")
            if cell.value != value:
                cell.value = value
        for verb, widget in self.buttons.items():
            state = enabled.get(verb, True)
            display = "none" if state is None else None  # None: the verb does not apply at all
            if widget.layout.display != display:
                widget.layout.display = display
            if widget.disabled != (state is False):
                widget.disabled = state is False

    def close(self) -> None:
        close_all(*self.buttons.values(), *self.cells, self.actions)


class RowTable(widgets.GridBox):
    """An aligned table (a CSS grid: one column per field, then the buttons). `update(rows)`
    changes cells in place, adds rows for new keys and closes the widgets of removed ones, so
    refreshing never grows the kernel's widget count."""

    def __init__(self, headers: Sequence[str], verbs: Sequence[str],
                 on_action: Callable[[str, str], None], *, empty: str = "nothing yet"):
        self._headers = [_cell(f"<span style='color:{TONE_COLOURS['muted']}'>{escape(h)}</span>")
                         for h in [headers[0], "", *headers[1:]]]
        self._verbs = list(verbs)
        self._on_action = on_action
        self._rows: dict[str, _Row] = {}
        self._empty = _cell(f"<i style='color:{TONE_COLOURS['muted']}'>{escape(empty)}</i>")
        # the name and the buttons as wide as they are; the other columns as wide as their
        # content when there is room, narrower (their values wrap) when there is not; the
        # last one (notes, errors) takes the room left
        template = "max-content max-content " + "auto " * (len(headers) - 2) \
            + "minmax(8em, 1fr)"
        super().__init__(layout=widgets.Layout(grid_template_columns=template,
                                               grid_gap="2px 10px", align_items="center",
                                               width="100%", overflow="auto"))
        self.children = [self._empty]

    @property
    def rows(self) -> dict[str, _Row]:
        return dict(self._rows)

    def set_empty(self, text: str) -> None:
        value = f"<i style='color:{TONE_COLOURS['muted']}'>{text}</i>"
        if self._empty.value != value:
            self._empty.value = value

    def update(self, rows: Sequence[tuple[str, Sequence[str], dict[str, bool | None]]]) -> None:
        """rows: (key, cell values, {verb: enabled (True/False) or None to hide})."""
        keys = [key for key, _, _ in rows]
        for key in [k for k in self._rows if k not in keys]:
            self._rows.pop(key).close()
        for key, values, enabled in rows:
            row = self._rows.get(key)
            if row is None:
                row = self._rows[key] = _Row(len(self._headers) - 1, self._verbs,
                                             lambda verb, key=key: self._on_action(key, verb))
            row.set(values, enabled)
        children = [*self._headers, *(w for k in keys for w in self._rows[k].widgets)] \
            if keys else [self._empty]
        if list(self.children) != children:
            self.children = children

    def close(self) -> None:
        for row in self._rows.values():
            row.close()
        self._rows.clear()
        close_all(*self._headers, self._empty)
        if isinstance(self.layout, widgets.Widget):
            self.layout.close()
        super().close()


class Panel(widgets.VBox):
    """A VBox whose callbacks are isolated (an exception becomes the `message`, the other
    controls keep working), whose slow actions run on a thread updating traits only, and
    which, while open, polls a cheap token of the store (`_token`) and refreshes when it
    changes: changes made by other processes show up within a poll or two."""

    message = traitlets.Unicode("")  # the last action's outcome or error, shown under the panel

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._status = widgets.HTML()
        self._pending: threading.Thread | None = None
        self._update_lock = threading.RLock()
        self._closed = threading.Event()
        self._poller: threading.Thread | None = None
        self._last_token: Any = None
        self.observe(self._show_message, names="message")

    def __repr__(self) -> str:
        # the text/plain of the widget: short and stable (nbval compares it)
        return f"<{type(self).__name__}>"

    def _show_message(self, change: dict) -> None:
        text = change["new"]
        shade = TONE_COLOURS["error" if text.startswith("error") else "text"]
        self._status.value = f"<span style='color:{shade}'>{escape(text)}</span>" if text else ""

    def _safe(self, callback: Callable[..., Any]) -> Callable[..., None]:
        def handler(*args: Any) -> None:
            try:
                with front_end("python"):  # a widget's errors advise in Python syntax
                    callback(*args)
            except Exception as exc:  # one failing control must not break the others
                self.message = f"error: {exc}"
        return handler

    def _in_background(self, label: str, action: Callable[[], str | None]) -> None:
        """Run a slow action (start, stop) off the kernel's main thread."""
        self.message = f"{label} ..."

        def work() -> None:
            try:
                with front_end("python"):
                    done = action()
                self.message = done or f"{label}: done"
            except Exception as exc:
                self.message = f"error: {label}: {exc}"
            finally:
                self.refresh()

        self._pending = threading.Thread(target=work, name="ctcd-widget-action", daemon=True)
        self._pending.start()
        self.refresh()  # show the new state (e.g. PENDING_STARTUP) while the action runs

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Block until the last background action finished (for scripts and tests)."""
        if self._pending is not None:
            self._pending.join(timeout)
            if self._pending.is_alive():
                raise TimeoutError(f"widget action still running after {timeout:g} s")

    def refresh(self, *_: Any) -> None:
        if self._closed.is_set():
            return
        with self._update_lock:
            self._last_token = self._safe_token()
            self._update()

    def _update(self) -> None:
        raise NotImplementedError

    # -- other processes -------------------------------------------------------------------------
    def _token(self) -> Any:
        """Something cheap that changes when what the panel shows changed (a store query)."""
        return None

    def _safe_token(self) -> Any:
        try:
            return self._token()
        except Exception as exc:  # e.g. the store is gone: say so, keep the panel
            return repr(exc)

    def _due(self) -> bool:
        """Refresh at the next poll even when the token did not change (e.g. a PENDING row
        counts seconds)."""
        return False

    def poll_once(self) -> bool:
        """Refresh if the store changed since the last refresh; True when it refreshed."""
        if self._closed.is_set():
            return False
        if self._safe_token() != self._last_token or self._due():
            self.refresh()
            return True
        return False

    def start_polling(self, interval: float = POLL_SECONDS) -> None:
        """Poll from a daemon thread until the panel is closed (the thread holds the panel
        weakly, so a forgotten panel is not kept alive by it)."""
        if self._poller is not None or self._closed.is_set():
            return
        ref, closed = weakref.ref(self), self._closed

        def poll() -> None:
            while not closed.wait(interval):
                panel = ref()
                if panel is None:
                    return
                try:
                    panel.poll_once()
                except Exception as exc:
                    panel.message = f"error: refresh: {exc}"
                del panel

        self._poller = threading.Thread(target=poll, name="ctcd-panel-poll", daemon=True)
        self._poller.start()

    def close(self) -> None:
        """Stop polling and close every widget the panel owns."""
        self._closed.set()
        close_all(*self._owned())
        if isinstance(self.layout, widgets.Widget):
            self.layout.close()
        super().close()

    def _owned(self) -> list[widgets.Widget]:
        return [self._status]
