"""`SchedulesPanel`: every schedule with its status, next fire and last run, pause/resume/remove
buttons and its runs; it follows the scheduler's events, no polling."""

from __future__ import annotations

import functools
from html import escape
from typing import Any

import ipywidgets as widgets

from ..schedules.pipelines import ScheduleInfo
from ..views.format import when
from ..workspace import Workspace, get_workspace
from .common import Panel, badge
from .runs import RunsView

__all__ = ["SchedulesPanel"]


def _when(ts: float | None, tz: Any) -> str:
    return when(ts, tz)


class SchedulesPanel(Panel):
    """One row per schedule (this kernel's and stored ones), and the runs of the one picked."""

    def __init__(self, *, workspace: Workspace | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.workspace = workspace or get_workspace()
        self._refresh = widgets.Button(description="Refresh", icon="refresh")
        self._rows = widgets.VBox()
        self.runs = RunsView(workspace=self.workspace, limit=10)
        self.children = [widgets.HBox([widgets.HTML("<b>Schedules</b>"), self._refresh]),
                         self._rows, self._status, self.runs]
        # wiring, in one place; the scheduler calls back on its own threads (traits only)
        self._refresh.on_click(self._safe(self.refresh))
        self.workspace.scheduling.subscribe(self._on_event)
        self.refresh()

    def _on_event(self, event: Any) -> None:
        self.refresh()
        if event.kind in ("succeeded", "failed", "skipped"):
            self.runs.refresh()

    def _update(self) -> None:
        infos = self.workspace.scheduling.overview()
        if not infos:
            self._rows.children = [widgets.HTML(
                "<i>no schedules: %schedule PIPELINE --every 1h, or "
                "pipeline.run(schedule=ctcd.Schedule(...))</i>")]
            return
        self._rows.children = [self._row(info) for info in infos]

    def _row(self, info: ScheduleInfo) -> widgets.HBox:
        record = info.record
        zone = record.schedule.zoneinfo
        last = info.last_run
        last_text = "-" if last is None else f"{last.status.value} {_when(last.started_at, zone)}"
        next_fire = _when(record.next_fire, zone) if info.live and \
            record.state.value == "ACTIVE" else "-"
        text = (f"<b>{escape(info.name)}</b> {badge(info.status)} "
                f"{escape(record.schedule.describe())} · next {next_fire} · last {last_text} · "
                f"{record.succeeded} ok / {record.failed} failed / {record.skipped} skipped")
        buttons = []
        for verb in ("pause", "resume", "remove", "runs"):
            button = widgets.Button(description=verb, layout={"width": "90px"})
            button.on_click(self._safe(functools.partial(self._act, info.name, verb)))
            buttons.append(button)
        return widgets.HBox([widgets.HTML(text), *buttons])

    def _act(self, name: str, verb: str, _button: Any = None) -> None:
        scheduling = self.workspace.scheduling
        if verb == "runs":
            self.runs.pipeline = name
            return
        getattr(scheduling, verb)(name)
        self.message = f"{verb}d {name}" if verb != "resume" else f"resumed {name}"
        self.refresh()
