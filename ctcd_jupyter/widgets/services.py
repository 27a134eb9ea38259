"""`ServicesPanel`: every service with its status and endpoint, start/stop/restart/logs buttons,
and a predict box for model servers."""

from __future__ import annotations

import functools
import json
from html import escape
from typing import Any

import ipywidgets as widgets

from ..services import BaseService, get_service, services
from ..views.format import TONE_COLOURS
from ..workspace import Workspace, get_workspace
from .common import Panel, badge

__all__ = ["ServicesPanel"]


class ServicesPanel(Panel):
    """Start, stop and restart run on a thread (a model server takes seconds to come up), so
    the kernel stays responsive; the row updates when the action is done."""

    def __init__(self, *, workspace: Workspace | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.workspace = workspace or get_workspace()
        self._refresh = widgets.Button(description="Refresh", icon="refresh")
        self._rows = widgets.VBox()
        self._target = widgets.Dropdown(description="model", options=[])
        self._input = widgets.Textarea(
            placeholder='[{"col": 1.0, ...}] (records), {"col": [1.0]} (columns) or '
                        '[[1.0, 2.0]] (rows)', layout={"width": "100%", "height": "70px"})
        self._predict = widgets.Button(description="Predict", button_style="primary")
        self._result = widgets.HTML()
        self._predict_bar = widgets.HBox([self._target, self._predict])
        self._logs = widgets.Textarea(disabled=True, layout={"width": "100%", "height": "160px",
                                                             "display": "none"})
        self.children = [widgets.HBox([widgets.HTML("<b>Services</b>"), self._refresh]),
                         self._rows, self._status,
                         self._predict_bar, self._input, self._result, self._logs]
        # wiring, in one place
        self._refresh.on_click(self._safe(self.refresh))
        self._predict.on_click(self._safe(self._on_predict))
        self.refresh()

    def _update(self) -> None:
        found = services(self.workspace.home)
        self._rows.children = [self._row(svc) for svc in found] or [
            widgets.HTML("<i>no services</i>")]
        servers = [svc.name for svc in found if hasattr(svc, "predict")]
        if list(self._target.options) != servers:
            self._target.options = servers
        if servers and self._target.value not in servers:
            self._target.value = servers[0]
        # the predict box only when there is a model server to ask
        shown = None if servers else "none"
        for child in (self._predict_bar, self._input, self._result):
            child.layout.display = shown

    def _row(self, svc: BaseService) -> widgets.HBox:
        status = svc.status.value
        endpoint = svc.endpoint or ""
        error = svc.last_error if status == "ERROR" else None
        muted, red = TONE_COLOURS["muted"], TONE_COLOURS["error"]
        text = (f"<b>{escape(svc.name)}</b> <span style='color:{muted}'>{escape(svc.kind)}"
                f"</span> {badge(status)} <code>{escape(endpoint)}</code>"
                + (f"<br><span style='color:{red}'>{escape(error.splitlines()[0])}</span>"
                   if error else ""))
        buttons = []
        for verb in ("start", "stop", "restart", "logs"):
            button = widgets.Button(description=verb, layout={"width": "90px"})
            button.on_click(self._safe(functools.partial(self._act, svc.name, verb)))
            buttons.append(button)
        return widgets.HBox([widgets.HTML(text), *buttons])

    def _act(self, name: str, verb: str, _button: Any = None) -> None:
        svc = get_service(name, self.workspace.home)
        if verb == "logs":
            self._logs.value = svc.logs(tail=200) or "(empty log)"
            self._logs.layout.display = None
            return
        actions = {"start": lambda: svc.start(progress=False),
                   "stop": svc.stop, "restart": svc.restart}

        def action() -> str:
            actions[verb]()
            return f"{name}: {svc.status.value}"

        self._in_background(f"{verb} {name}", action)

    def _on_predict(self, _button: Any = None) -> None:
        if not self._target.value:
            raise ValueError("no model server to predict with")
        try:
            data = json.loads(self._input.value)
        except ValueError as exc:
            raise ValueError(f"the input is not JSON ({exc.msg} at column {exc.colno})") from None
        svc = get_service(self._target.value, self.workspace.home)
        result = svc.predict(data)
        self._result.value = f"<pre>{escape(str(result))}</pre>"
        self.message = f"{svc.name}: {len(result)} prediction(s)"
