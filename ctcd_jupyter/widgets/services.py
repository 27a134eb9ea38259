"""`ServicesPanel`: every service in an aligned table (status, endpoint, live model version),
start/stop/restart/rollback/logs/history buttons that are disabled or hidden where they cannot
apply, and a predict box for model servers that starts from the model's input example."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from html import escape
from typing import Any

import ipywidgets as widgets

from ..errors import PredictionError
from ..services import BaseService, get_service, services
from ..services.input_example import input_template
from ..views.format import TONE_COLOURS, when
from ..views.services import short_prediction_error
from ..workspace import Workspace, get_workspace
from .common import Panel, RowTable, badge, button, heading

__all__ = ["ServicesPanel"]

VERBS = ("start", "stop", "restart", "rollback", "logs", "history")
FULL_CHECK_EVERY = 15  # polls between two health checks of every service (a kill -9 elsewhere)
_PLACEHOLDER = ('[{"col": 1.0, ...}] (records), {"col": [1.0]} (columns) or [[1.0, 2.0]] '
                "(rows)")


def _version(svc: BaseService) -> str:
    version = getattr(svc, "model_version", None)
    if callable(version):
        version = version()
    uri = getattr(svc, "model_uri", None) or ""
    muted = TONE_COLOURS["muted"]
    if version:
        return f"<b>v{escape(str(version))}</b> <span style='color:{muted}'>{escape(uri)}</span>"
    return f"<span style='color:{muted}'>{escape(uri)}</span>" if uri else "-"


def _history_html(entries: Any) -> str:
    rows = []
    cell = f"padding:1px 10px 1px 0;border-bottom:1px solid {TONE_COLOURS['border']}"
    for entry in list(entries or [])[:20]:
        data = entry if isinstance(entry, dict) else getattr(entry, "__dict__", {"entry": entry})
        moment = data.get("created") or data.get("time") or data.get("since")
        what = data.get("outcome") or data.get("event") or data.get("action") or ""
        version = data.get("version")
        moment = when(moment) if isinstance(moment, (int, float)) else str(moment or "-")
        rows.append(f"<tr><td style='{cell}'>{escape(moment)}</td>"
                    f"<td style='{cell}'>{badge(str(what).upper()) if what else '-'}</td>"
                    f"<td style='{cell}'>{'v' + escape(str(version)) if version else '-'}</td>"
                    f"<td style='{cell}'>{escape(str(data.get('reason') or ''))}</td></tr>")
    if not rows:
        return f"<i style='color:{TONE_COLOURS['muted']}'>no history recorded yet</i>"
    head = "".join(f"<th style='{cell};text-align:left;color:{TONE_COLOURS['muted']}'>{h}</th>"
                   for h in ("when", "what", "version", "why"))
    return f"<table style='border-collapse:collapse'><tr>{head}</tr>{''.join(rows)}</table>"


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
        self._logs = widgets.Textarea(disabled=True, layout={"width": "100%", "height": "160px",
                                                             "display": "none"})
        self._detail = widgets.HTML()
        self._pending_since: dict[str, float] = {}
        self._templates: dict[str, str] = {}
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
        store = self.workspace.store
        row = store.execute("SELECT count(*) AS n, max(updated) AS last FROM services")[0]
        decisions = store.execute("SELECT max(id) AS last FROM deployments")[0]
        return row["n"], row["last"], decisions["last"]

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
            error = svc.last_error if status == "ERROR" else None
            endpoint = svc.endpoint or ""
            if endpoint and svc.kind != "mlflow_deployment":
                where = (f"<a href='{escape(endpoint)}' target='_blank' rel='noopener' "
                         f"style='color:{TONE_COLOURS['info']};text-decoration:underline'>"
                         f"{escape(endpoint)}</a>")
            else:
                where = f"<code>{escape(endpoint)}</code>" if endpoint else "-"
            if error:  # the full error in the tooltip, its first line in the table
                first = error.strip().splitlines()[0] if error.strip() else error
                where = (f"<span style='color:{TONE_COLOURS['error']}' title='{escape(error)}'>"
                         f"{escape(first[:300])}</span>")
            running = status in ("ACTIVE", "PENDING_STARTUP", "PENDING_SHUTDOWN")
            unknown = svc.kind == "unknown"
            enabled: dict[str, bool | None] = {
                "start": not running and not unknown,
                "stop": status not in ("INACTIVE", "PENDING_SHUTDOWN") and not unknown,
                "restart": status in ("ACTIVE", "ERROR") and not unknown,
                "rollback": (status == "ACTIVE") if hasattr(svc, "rollback") else None,
                "logs": not unknown,
                "history": True if hasattr(svc, "history") else None,
            }
            rows.append((svc.name, [f"<b>{escape(svc.name)}</b>",
                                    escape(getattr(svc, "stored_kind", svc.kind)), shown,
                                    _version(svc), where], enabled))
        self._table.update(rows)
        servers = [svc.name for svc in found if hasattr(svc, "predict")]
        if list(self._target.options) != servers:
            self._target.options = servers
        if servers and self._target.value not in servers:
            self._target.value = servers[0]
        # the predict box only when there is a model server to ask
        shown_box = None if servers else "none"
        for child in (self._predict_bar, self._input, self._result):
            if child.layout.display != shown_box:
                child.layout.display = shown_box

    # -- actions -------------------------------------------------------------------------------
    def _act(self, name: str, verb: str) -> None:
        svc = get_service(name, self.workspace.home)
        if verb == "logs":
            self._logs.value = svc.logs(tail=200) or "(empty log)"
            self._logs.layout.display = None
            return
        if verb == "history":
            self._detail.value = (f"<b>{escape(name)}</b>: which version served when, and why"
                                  + _history_html(svc.history()))
            return
        actions = {"start": lambda: svc.start(progress=False), "stop": svc.stop,
                   "restart": svc.restart, "rollback": lambda: svc.rollback()}
        if verb in ("start", "restart"):
            self._pending_since[name] = time.time()

        def action() -> str:
            actions[verb]()
            version = getattr(svc, "model_version", None)
            return f"{name}: {svc.status.value}" + (
                f" v{version}" if verb == "rollback" and version else "")

        self._in_background(f"{verb} {name}", action)

    # -- predict -------------------------------------------------------------------------------
    def _on_target(self, change: dict) -> None:
        name = change["new"]
        if not name:
            return
        previous = self._templates.get(change.get("old") or "")
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

