"""`RunsView`: the run history as a table, filtered by pipeline."""

from __future__ import annotations

from html import escape
from typing import Any

import ipywidgets as widgets
import traitlets

from ..engine.run import Run, RunState
from ..views.runs import run_note
from ..workspace import Workspace, get_workspace
from .common import Panel, badge

__all__ = ["RunsView"]

ALL = "(all pipelines)"


class RunsView(Panel):
    """Runs, newest first: id, trigger, status, start, duration, metrics or why it failed."""

    pipeline = traitlets.Unicode(None, allow_none=True)
    limit = traitlets.Int(20)

    def __init__(self, pipeline: str | None = None, *, limit: int = 20,
                 workspace: Workspace | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.workspace = workspace or get_workspace()
        self._choice = widgets.Dropdown(description="pipeline", options=[ALL])
        self._limit = widgets.BoundedIntText(value=limit, min=1, max=10_000,
                                             description="runs", layout={"width": "160px"})
        self._refresh = widgets.Button(description="Refresh", icon="refresh")
        self._table = widgets.HTML()
        self.children = [widgets.HBox([self._choice, self._limit, self._refresh]),
                         self._table, self._status]
        # wiring, in one place
        self._refresh.on_click(self._safe(self.refresh))
        self._choice.observe(self._safe(self._on_choice), names="value")
        self._limit.observe(self._safe(lambda change: setattr(self, "limit", change["new"])),
                            names="value")
        self.observe(self._safe(self.refresh), names=["pipeline", "limit"])
        self.pipeline, self.limit = pipeline, limit
        self.refresh()

    def _on_choice(self, change: dict) -> None:
        self.pipeline = None if change["new"] == ALL else change["new"]

    def _update(self) -> None:
        rows = self.workspace.store.execute("SELECT DISTINCT pipeline FROM runs ORDER BY pipeline")
        names = [ALL, *(r["pipeline"] for r in rows)]
        if self.pipeline and self.pipeline not in names:
            names.append(self.pipeline)
        if list(self._choice.options) != names:
            self._choice.options = names
        self._choice.value = self.pipeline or ALL
        self._table.value = runs_table(self.workspace.runs(self.pipeline, limit=self.limit))


def runs_table(runs: list[Run]) -> str:
    if not runs:
        return "<i>no runs yet</i>"
    head = "".join(f"<th style='text-align:left'>{h}</th>" for h in (
        "run", "pipeline", "trigger", "status", "started", "duration", "metrics / note"))
    body = []
    for run in runs:
        duration = "-" if run.duration is None or run.status is RunState.SKIPPED \
            else f"{run.duration:.2f}s"
        cells = [run.id, run.pipeline, run.trigger, None,
                 f"{run.started:%Y-%m-%d %H:%M:%S}", duration, run_note(run)]
        body.append("<tr>" + "".join(
            f"<td>{badge(run.status.value)}</td>" if c is None else f"<td>{escape(c)}</td>"
            for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"
