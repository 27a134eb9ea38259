"""`MonitorPanel(service)`: a served model's monitor in a notebook, refreshing in place.

Per version: requests, error rate, latency, labelled rows, live accuracy with its interval, the
drifting features; then the charts (views/monitor_charts.py: Vega-Lite, drawn by JupyterLab's own
renderer, light or dark). The report is recomputed every `refresh` seconds on the panel's poll
thread and the outputs are replaced in place (no flicker of a cleared cell).
"""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from ..services.prediction_access import log_of
from ..views.format import TONE_COLOURS
from ..views.monitor import accuracy_text, drift_lines, milliseconds, window_text
from ..views.monitor_charts import MIME, charts
from ..workspace import Workspace, get_workspace
from .common import Panel, button, heading

__all__ = ["MonitorPanel"]


class MonitorPanel(Panel):
    """The monitor of `service` (a name or an `MLFlowDeploymentService`) over the last
    `window`, recomputed every `refresh` seconds while displayed (0: only on Refresh)."""

    def __init__(self, service: Any, *, window: str | float | None = "1h", refresh: float = 10,
                 min_labels: int = 50, workspace: Workspace | None = None, poll: bool = True,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.workspace = workspace or get_workspace()
        self.service = log_of(service, self.workspace.home) if isinstance(service, str) \
            else service
        self.window, self.min_labels = window, int(min_labels)
        self.report: Any = None
        self._title = heading(f"Monitor: {self.service.name}")
        self._refresh = button("Refresh", icon="refresh")
        self._bar = widgets.HBox([self._title, self._refresh], layout={"align_items": "center"})
        self._summary = widgets.HTML()
        self._charts = widgets.Output(layout={"width": "100%"})
        self.children = [self._bar, self._summary, self._status, self._charts]
        self._refresh.on_click(self._safe(self.refresh))
        self.refresh()
        if poll and refresh:
            self.start_polling(float(refresh))

    def _owned(self) -> list[widgets.Widget]:
        return [self._title, self._refresh, self._bar, self._summary, self._charts,
                *super()._owned()]

    def _due(self) -> bool:
        return True  # new answers arrive all the time: every poll recomputes

    def _update(self) -> None:
        try:
            self.report = self.service.monitor(self.window, min_labels=self.min_labels)
        except Exception as exc:  # e.g. the log is unreadable: say so, keep the panel
            self.message = f"error: monitor: {exc}"
            return
        data = self.report.to_dict()
        self._summary.value = summary_html(data, self.service.name)
        self._charts.outputs = tuple(
            {"output_type": "display_data", "metadata": {},
             "data": {MIME: chart["spec"], "text/plain": chart["title"]}}
            for chart in charts(data))
        if self.message.startswith("error: monitor"):
            self.message = ""


def summary_html(report: dict[str, Any], name: str) -> str:
    """The report's table: a row per version, its drifting features and reference under it."""
    text, muted = TONE_COLOURS["text"], TONE_COLOURS["muted"]
    versions = report.get("versions") or []
    error = TONE_COLOURS["error"]
    state = f"<b style='color:{error}'>drift</b>" if report.get("drifted") else "no drift"
    head = f"{escape(window_text(report.get('window_s')))}, {state}"
    if report.get("dropped"):
        head += f"; {report['dropped']:,} rows could not be logged"
    if not versions:
        return (f"<div style='color:{text}'>{head}<br><span style='color:{muted}'>no logged "
                f"predictions for {escape(name)} in this window</span></div>")
    cells = ("version", "requests", "errors", "p50", "p99", "labelled", "live accuracy")
    rows = ["<tr>" + "".join(f"<th style='text-align:left;padding:2px 10px 2px 0'>{c}</th>"
                             for c in cells) + "</tr>"]
    for v in versions:
        labels = v.get("labels") or {}
        rate = "-" if v.get("error_rate") is None else f"{v['error_rate']:.1%}"
        values = (f"v{v['version']}", f"{v['requests']:,}", rate, milliseconds(v["latency_p50_ms"]),
                  milliseconds(v["latency_p99_ms"]), f"{labels.get('labelled', 0):,}",
                  accuracy_text(v.get("accuracy") or {}, labels.get("labelled", 0)))
        rows.append("<tr>" + "".join(f"<td style='padding:2px 10px 2px 0'>{escape(x)}</td>"
                                     for x in values) + "</tr>")
        drift = drift_lines(v) or [f"no drift in {len(v.get('features') or [])} features"]
        note = "; ".join(drift) + f" — reference: {v.get('reference')}"
        rows.append(f"<tr><td colspan='7' style='color:{muted};padding:0 0 6px 12px'>"
                    f"{escape(note)}</td></tr>")
    return (f"<div style='color:{text}'>{head}<table style='border-collapse:collapse'>"
            f"{''.join(rows)}</table></div>")

