"""`SchedulesPanel`: every schedule in an aligned table with its status, next fire and last run,
pause/resume/remove buttons (disabled where they cannot apply) and the runs of the one picked.
It follows the scheduler's events, and polls the store for other kernels' changes while open."""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets

from ..schedules.pipelines import ScheduleInfo
from ..views.format import metric, when
from ..views.schedules import shown_next_fire
from ..workspace import Workspace, get_workspace
from .common import Panel, RowTable, badge, button, heading
from .runs import RunsView

__all__ = ["SchedulesPanel"]

RUN_EVENTS = ("succeeded", "failed", "skipped")


class SchedulesPanel(Panel):
    """One row per schedule (this kernel's and stored ones), and the runs of the one picked."""

    def __init__(self, *, workspace: Workspace | None = None, poll: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.workspace = workspace or get_workspace()
        self._title = heading("Schedules")
        self._refresh = button("Refresh", icon="refresh")
        self._bar = widgets.HBox([self._title, self._refresh],
                                 layout={"align_items": "center"})
        self._table = RowTable(
            ("schedule", "status", "when", "next run", "last run", "ok / failed / skipped"),
            ("pause", "resume", "remove", "runs"), self._safe(self._act),
            empty="no schedules")
        self._table.set_empty("no schedules: <code>%schedule PIPELINE --every 1h</code>, or "
                              "<code>pipeline.run(schedule=ctcd.Schedule(...))</code>")
        self.runs = RunsView(workspace=self.workspace, limit=10, poll=False)
        self._infos: dict[str, ScheduleInfo] = {}
        self.children = [self._bar, self._table, self._status, self.runs]
        # wiring, in one place; the scheduler calls back on its own threads (traits only)
        self._refresh.on_click(self._safe(self.refresh))
        self._refresh.on_click(self._safe(self.runs.refresh))
        self.workspace.scheduling.subscribe(self._on_event)
        self.refresh()
        if poll:
            self.start_polling()

    @property
    def _rows(self) -> RowTable:  # the table (older tests and scripts read `_rows`)
        return self._table

    def _owned(self) -> list[widgets.Widget]:
        return [self._title, self._refresh, self._bar, self._table, self.runs,
                *super()._owned()]

    def _on_event(self, event: Any) -> None:
        if self._closed.is_set():
            return
        self.refresh()
        if event.kind in RUN_EVENTS:
            self.runs.refresh()

    def _token(self) -> Any:
        return self.workspace.store.change_token("schedules")

    def poll_once(self) -> bool:
        changed = super().poll_once()
        return self.runs.poll_once() or changed

    def _update(self) -> None:
        infos = self.workspace.scheduling.overview()
        self._infos = {info.name: info for info in infos}
        self._table.update([(info.name, *self._row(info)) for info in infos])

    def _row(self, info: ScheduleInfo) -> tuple[list[str], dict[str, bool | None]]:
        record = info.record
        zone = record.schedule.zoneinfo
        state = record.state.value
        active = info.live and state == "ACTIVE"
        last = info.last_run
        last_text = "-" if last is None else (
            f"{badge(last.status.value)} {escape(when(last.started_at, zone, today_short=True))}"
            + "".join(f" <code>{escape(k)}={escape(metric(v))}</code>"
                      for k, v in list(last.metrics.items())[:2]))
        next_fire = when(shown_next_fire(info), zone, today_short=True)
        status = info.status
        extra = ""
        if status.startswith("ACTIVE in pid"):
            status, extra = "ACTIVE", status.removeprefix("ACTIVE ")
        elif status.startswith("STOPPED"):
            status, extra = "STOPPED", "kernel restarted: resume to run it here"
        cells = [f"<b>{escape(info.name)}</b>", badge(status, extra),
                 escape(record.schedule.describe()), escape(next_fire), last_text,
                 f"{record.succeeded} / {record.failed} / {record.skipped}"]
        foreign = info.foreign_owner
        done = state == "COMPLETED"
        enabled: dict[str, bool | None] = {
            "pause": active,
            "resume": not foreign and not done and not active,
            "remove": not foreign,
            "runs": True,
        }
        return cells, enabled

    def _act(self, name: str, verb: str) -> None:
        scheduling = self.workspace.scheduling
        if verb == "runs":
            self.runs.pipeline = name
            return
        getattr(scheduling, verb)(name)
        self.message = {"pause": "paused", "resume": "resumed", "remove": "removed"}[verb] \
            + f" {name}"
        self.refresh()
