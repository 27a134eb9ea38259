"""`ServicesPanel`: every service in an aligned table (status, endpoint, live model version,
pinned, a follower's warning), start/stop/restart/rollback/unpin/logs/history buttons that are
disabled or hidden where they cannot apply, a log that opens at its newest line and follows, and
a predict box that offers only the model servers that can answer and keeps its choice."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from html import escape
from typing import Any

import ipywidgets as widgets

from ..errors import PredictionError
from ..model_server import redact
from ..services import BaseService, get_service, services
from ..services.input_example import input_template
from ..views.format import TONE_COLOURS
from ..views.history import history_html
from ..views.services import pinned_of, pinned_text, service_label, short_prediction_error
from ..workspace import Workspace, get_workspace
from .common import Panel, RowTable, badge, breakable, button, heading, log_html

__all__ = ["ServicesPanel"]

VERBS = ("start", "stop", "restart", "rollback", "unpin", "logs", "history")
LOG_LINES = 200
FULL_CHECK_EVERY = 15  # polls between two health checks of every service (a kill -9 elsewhere)
_PLACEHOLDER = ('[{"col": 1.0, ...}] (records), {"col": [1.0]} (columns) or [[1.0, 2.0]] '
                "(rows)")


def _version(svc: BaseService) -> str:
    version = getattr(svc, "model_version", None)
    if callable(version):
        version = version()
    uri = getattr(svc, "model_uri", None) or ""
    muted = TONE_COLOURS["muted"]
    pinned = pinned_text(svc)
    pin = (f" <b style='color:{TONE_COLOURS['warn']}' title='{escape(pinned)}'>"
           f"{escape(pinned_text(svc, short=True))}</b>") if pinned else ""
    if version:
        return (f"<b>v{escape(str(version))}</b>{pin} "
                f"<span style='color:{muted}'>{breakable(uri)}</span>")
    return (f"<span style='color:{muted}'>{breakable(uri)}</span>{pin}" if uri else "-")


def _predictable(svc: BaseService, status: str) -> bool:
    """A model server that can answer now."""
    return status == "ACTIVE" and callable(getattr(svc, "predict", None))


class ServicesPanel(Panel):
    """Start, stop, restart and rollback run on a thread (a model server takes seconds to come
    up), so the kernel stays responsive; the row shows PENDING with the seconds it has taken."""

    def __init__(self, *, workspace: Workspace | None = None, poll: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.workspace = workspace or get_workspace()
        self._title = heading("Services")
        self._refresh = button("Refresh", icon="refresh")
        self._bar = widgets.HBox([self._title, self._refresh], layout={"align_items": "center"})
        self._table = RowTable(("service", "kind", "status", "model", "endpoint / error"), VERBS,
                               self._safe(self._act), empty="no services")
        self._target = widgets.Dropdown(description="model", options=[],
                                        layout={"width": "max-content"})
        self._input = widgets.Textarea(placeholder=_PLACEHOLDER,
                                       layout={"width": "100%", "height": "70px"})
        self._predict = button("Predict", button_style="primary")
        self._result = widgets.HTML()
        self._predict_bar = widgets.HBox([self._target, self._predict],
                                         layout={"align_items": "center"})
        self._logs = widgets.HTML(layout={"width": "100%", "display": "none"})
        self._log_service: str | None = None  # whose log is shown (and followed)
        self._history_service: str | None = None  # whose history is shown (and kept fresh)
        self._detail = widgets.HTML()
        self._pending_since: dict[str, float] = {}
        self._templates: dict[str, str] = {}
        self._syncing = False  # the panel itself is changing the target: not the user's choice
        self._polls = 0
        self.children = [self._bar, self._table, self._status, self._detail, self._logs,
                         self._predict_bar, self._input, self._result]
        # wiring, in one place
        self._refresh.on_click(self._safe(self.refresh))
        self._predict.on_click(self._safe(self._on_predict))
        self._target.observe(self._safe(self._on_target), names="value")
        self.refresh()
        if poll:
            self.start_polling()

    @property
    def _rows(self) -> RowTable:
        return self._table

    def _owned(self) -> list[widgets.Widget]:
        return [self._title, self._refresh, self._bar, self._table, self._target, self._input,
                self._predict, self._result, self._predict_bar, self._logs, self._detail,
                *super()._owned()]

    # -- refresh -------------------------------------------------------------------------------
    def _token(self) -> Any:
        return self.workspace.store.change_token("services", "deployments", "serving_history")

    def poll_once(self) -> bool:
        changed = super().poll_once()
        self._follow_log()
        return changed

    def _due(self) -> bool:
        self._polls += 1
        return bool(self._pending_since) or self._polls % FULL_CHECK_EVERY == 0

    def _update(self) -> None:
        found = services(self.workspace.home)
        now = time.time()
        rows = []
        for svc in found:
            status = svc.status.value
            if status.startswith("PENDING"):
                since = self._pending_since.setdefault(svc.name, now)
                shown = badge(status, f"{now - since:.0f}s")
            else:
                self._pending_since.pop(svc.name, None)
                shown = badge(status)
            label = service_label(status, svc.last_error, getattr(svc, "model_uri", None))
            error = (redact.text(svc.last_error or "") or None
                     if status in ("ERROR", "UNREADABLE") else None)
            # e.g. a follower that cannot follow: it serves, but not what it was asked to
            warning = label.reason if status == "ACTIVE" else None
            if warning:
                shown = (f"<span style='color:{TONE_COLOURS[label.tone]};font-weight:600'>"
                         f"{escape(label.text)}</span>")
            endpoint = svc.endpoint or ""
            if endpoint and svc.kind != "mlflow_deployment":
                where = (f"<a href='{escape(endpoint)}' target='_blank' rel='noopener' "
                         f"style='color:{TONE_COLOURS['info']};text-decoration:underline'>"
                         f"{breakable(endpoint)}</a>")
            else:
                where = f"<code>{breakable(endpoint)}</code>" if endpoint else "-"
            if error:  # the full error in the tooltip, its first line in the table
                first = error.strip().splitlines()[0] if error.strip() else error
                where = (f"<span style='color:{TONE_COLOURS['error']}' title='{escape(error)}'>"
                         f"{breakable(first[:300])}</span>")
            elif warning:
                where += (f"<br><span style='color:{TONE_COLOURS['warn']}' "
                          f"title='{escape(redact.text(svc.last_error or ''))}'>⚠ "
                          f"{breakable(warning)}</span>")
            running = status in ("ACTIVE", "PENDING_STARTUP", "PENDING_SHUTDOWN")
            unknown = svc.kind == "unknown"
            enabled: dict[str, bool | None] = {
                "start": not running and not unknown,
                "stop": status not in ("INACTIVE", "PENDING_SHUTDOWN") and not unknown,
                "restart": status in ("ACTIVE", "ERROR") and not unknown,
                "rollback": (status == "ACTIVE") if hasattr(svc, "rollback") else None,
                "unpin": True if pinned_of(svc) else None,
                "logs": not unknown,
                "history": True if hasattr(svc, "history") else None,
            }
            rows.append((svc.name, [f"<b>{escape(svc.name)}</b>",
                                    breakable(getattr(svc, "stored_kind", svc.kind)), shown,
                                    _version(svc), where], enabled))
        self._table.update(rows)
        self._update_history()
        self._update_target([svc.name for svc in found if _predictable(svc, svc.status.value)])

    def _update_history(self) -> None:
        """The history shown is redrawn with every refresh (a deploy or rollback adds a row)."""
        name, value = self._history_service, ""
        if name is not None:
            try:
                entries = get_service(name, self.workspace.home).history()
            except Exception as exc:  # deleted meanwhile
                entries, name = [], f"{name} ({exc})"
            value = (f"<b>{escape(name)}</b>: which version served when, and why"
                     + history_html(entries, time.time()))
        if self._detail.value != value:
            self._detail.value = value

    def _update_target(self, servers: list[str]) -> None:
        """Offer the servers that can answer; the choice stays across refreshes, and when the
        chosen one stops answering, its payload goes with it and the panel says so."""
        before = self._target.value
        if list(self._target.options) != servers:
            self._syncing = True
            try:
                self._target.options = servers  # keeps the value when it is still offered
                if servers and self._target.value is None:
                    self._target.value = servers[0]
            finally:
                self._syncing = False
        after = self._target.value
        if before and before not in servers:
            ours = self._input.value in ("", self._templates.get(before))
            self._input.value = self._templates.get(after or "", "")
            self._result.value = ""
            self.message = (f"{before} no longer answers: the predict box now sends to "
                            f"{after}" if after else
                            f"{before} no longer answers; no model server can predict now") + (
                "" if ours else " (your input was cleared: it was written for "
                f"{before})")
            if after:
                self._fill_template(after, "")
        elif after and not before:
            self._fill_template(after, "")
        # the predict box only when there is a model server to ask
        shown_box = None if servers else "none"
        for child in (self._predict_bar, self._input, self._result):
            if child.layout.display != shown_box:
                child.layout.display = shown_box

    # -- actions -------------------------------------------------------------------------------
    def _act(self, name: str, verb: str) -> None:
        svc = get_service(name, self.workspace.home)
        if verb == "logs":
            if self._log_service == name:  # a second click hides it
                self._log_service, self._logs.layout.display = None, "none"
                return
            self._log_service = name
            self._logs.value = log_html(name, svc.logs(tail=LOG_LINES))
            self._logs.layout.display = None
            return
        if verb == "history":
            self._history_service = None if self._history_service == name else name
            self._update_history()
            return
        actions = {"start": lambda: svc.start(progress=False), "stop": svc.stop,
                   "restart": svc.restart, "rollback": lambda: svc.rollback(),
                   "unpin": lambda: svc.unpin()}
        if verb in ("start", "restart"):
            self._pending_since[name] = time.time()

        def action() -> str:
            actions[verb]()
            version = getattr(svc, "model_version", None)
            if verb == "unpin":
                return f"{name}: unpinned; deployments may replace v{version} again"
            return f"{name}: {svc.status.value}" + (
                f" v{version}" if verb == "rollback" and version else "")

        self._in_background(f"{verb} {name}", action)

    def _follow_log(self) -> None:
        """The log shown follows its service: new lines appear at the bottom, in view."""
        name = self._log_service
        if name is None or self._closed.is_set():
            return
        try:
            value = log_html(name, get_service(name, self.workspace.home).logs(tail=LOG_LINES))
        except Exception as exc:  # the service was deleted meanwhile: say so in the log box
            value = log_html(name, f"(cannot read the log: {exc})")
        if self._logs.value != value:
            self._logs.value = value

    # -- predict -------------------------------------------------------------------------------
    def _on_target(self, change: dict) -> None:
        if self._syncing or not change["new"]:
            return
        self._fill_template(change["new"], self._templates.get(change.get("old") or ""))

    def _fill_template(self, name: str, previous: str | None) -> None:
        """Put `name`'s input example in the box, unless the user typed their own input."""
        if self._input.value.strip() and self._input.value != previous:
            return  # the user's own input stays

        def fill() -> None:
            with contextlib.suppress(Exception):
                svc = get_service(name, self.workspace.home)
                template = input_template(svc)
                if template:
                    self._templates[name] = template
                    if self._target.value == name and (not self._input.value.strip()
                                                       or self._input.value == previous):
                        self._input.value = template

        threading.Thread(target=fill, name="ctcd-predict-template", daemon=True).start()

    def _on_predict(self, _button: Any = None) -> None:
        self._result.value = ""  # an old answer must not look like the answer to this input
        if not self._target.value:
            raise ValueError("no model server to predict with")
        try:
            data = json.loads(self._input.value)
        except ValueError as exc:
            raise ValueError(f"the input is not JSON ({exc.msg} at column {exc.colno})") from None
        svc = get_service(self._target.value, self.workspace.home)
        started = time.perf_counter()
        try:
            result = svc.predict(data)
        except PredictionError as exc:
            raise ValueError(f"{svc.name}: "
                             + short_prediction_error(exc.server_message or str(exc))) from None
        took = (time.perf_counter() - started) * 1000
        version = getattr(svc, "model_version", None)
        answered = f"v{version}" if version else getattr(svc, "model_uri", svc.name)
        values = result.tolist() if hasattr(result, "tolist") else result
        self._result.value = (
            f"<pre style='margin:2px 0'>{escape(json.dumps(values, default=str))}</pre>"
            f"<span style='color:{TONE_COLOURS['muted']}'>answered by {escape(str(answered))} "
            f"in {took:.0f} ms</span>")
        self.message = f"{svc.name}: {len(result)} prediction(s)"

