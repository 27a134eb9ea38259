"""`RunsView`: the run history as an aligned table, filtered by pipeline, with a metric trend
and a detail view of the run clicked. It follows this kernel's runs through a run observer and
other processes' runs through a cheap poll of the store while it is open."""

from __future__ import annotations

import time
import weakref
from html import escape
from typing import Any

import ipywidgets as widgets
import traitlets

from ..deployment import deployments
from ..engine.observers import RunObserver
from ..engine.run import Run, RunState
from ..engine.run_store import metric_series, pipeline_names
from ..engine.tracking import experiments_of
from ..services.mlflow_ui import running_ui_url
from ..views.format import TONE_COLOURS, ago, duration, when
from ..views.run_detail import mlflow_run_url, run_detail_html
from ..views.runs import run_note
from ..views.trend import legend_html, trend_series, trend_svg
from ..workspace import Workspace, get_workspace
from .common import Panel, RowTable, badge, button

__all__ = ["RunsView"]

ALL = "(all pipelines)"
TREND_RUNS = 1000  # the trend's reach: the newest runs of a pipeline that logged metrics


class _Follow(RunObserver):
    """Refreshes a view when a run of this kernel starts, ends a step or ends (held weakly by
    the observers; it holds the view weakly, so closing the view is enough)."""

    def __init__(self, view: RunsView):
        self._view = weakref.ref(view)

    def _refresh(self, *_: Any) -> None:
        view = self._view()
        if view is not None:
            view.refresh()

    run_start = run_end = _refresh  # type: ignore[assignment]




class RunsView(Panel):
    """Runs, newest first: id, trigger, status, start, duration and a note (metrics, what a
    deployment did, or why it failed). Click `details` for the run in full."""

    pipeline = traitlets.Unicode(None, allow_none=True)
    limit = traitlets.Int(20)
    metric = traitlets.Unicode(None, allow_none=True)  # the trend's metric (default: the first)
    selected = traitlets.Unicode(None, allow_none=True)  # the run shown in detail

    def __init__(self, pipeline: str | None = None, *, limit: int = 20,
                 workspace: Workspace | None = None, poll: bool = True, **kwargs: Any):
        super().__init__(**kwargs)
        self.workspace = workspace or get_workspace()
        self._choice = widgets.Dropdown(description="pipeline", options=[ALL],
                                        layout={"width": "max-content"})
        self._limit = widgets.BoundedIntText(value=limit, min=1, max=10_000,
                                             description="runs", layout={"width": "150px"})
        self._metric = widgets.Dropdown(description="trend", options=[],
                                        layout={"width": "max-content"})
        self._refresh = button("Refresh", icon="refresh")
        self._toolbar = widgets.HBox([self._choice, self._limit, self._metric, self._refresh],
                                     layout={"flex_flow": "row wrap"})
        self._trend = widgets.HTML()
        self._table = RowTable(
            ("run", "pipeline", "trigger", "status", "started", "duration", "note"),
            ("details",), self._safe(self._on_row), empty="no runs yet")
        self._detail = widgets.HTML()
        self._runs: dict[str, Run] = {}
        self._links: dict[str, str] = {}
        self._agos: list[tuple[Run, str]] = []  # the relative times shown
        self.children = [self._toolbar, self._trend, self._table, self._detail, self._status]
        # wiring, in one place
        self._refresh.on_click(self._safe(self.refresh))
        self._choice.observe(self._safe(self._on_choice), names="value")
        self._limit.observe(self._safe(lambda change: setattr(self, "limit", change["new"])),
                            names="value")
        self._metric.observe(self._safe(self._on_metric), names="value")
        self.observe(self._safe(self.refresh), names=["pipeline", "limit", "metric", "selected"])
        self._follow = self.workspace.observers.add(_Follow(self), weak=True)
        self.pipeline, self.limit = pipeline, limit
        self.refresh()
        if poll:
            self.start_polling()

    def _owned(self) -> list[widgets.Widget]:
        return [self._choice, self._limit, self._metric, self._refresh, self._toolbar,
                self._trend, self._table, self._detail, *super()._owned()]

    def close(self) -> None:
        self.workspace.observers.remove(self._follow)
        super().close()

    def _on_choice(self, change: dict) -> None:
        self.pipeline = None if change["new"] == ALL else change["new"]

    def _on_metric(self, change: dict) -> None:
        if change["new"]:
            self.metric = change["new"]

    def _on_row(self, run_id: str, verb: str) -> None:
        self.selected = None if self.selected == run_id else run_id

    def _token(self) -> Any:
        return self.workspace.store.change_token("runs", "deployments", "serving_history")

    def _due(self) -> bool:
        """A running run counts its seconds, and relative times tick: refresh when a shown
        "12s ago" would read otherwise now."""
        if any(run.status is RunState.RUNNING for run in self._runs.values()):
            return True
        now = time.time()
        return any(ago(run.started_at, now) != shown for run, shown in self._agos)

    def _update(self) -> None:
        store = self.workspace.store
        names = [ALL, *pipeline_names(store)]
        if self.pipeline and self.pipeline not in names:
            names.append(self.pipeline)
        if list(self._choice.options) != names:
            self._choice.options = names
        self._choice.value = self.pipeline or ALL
        runs = self.workspace.runs(self.pipeline, limit=self.limit)
        self._runs = {run.id: run for run in runs}
        now = time.time()
        self._links = self._mlflow_links(runs)
        rows = []
        self._agos = [(run, ago(run.started_at, now)) for run in runs]
        for run in runs:
            skipped = run.status is RunState.SKIPPED
            took = "-" if skipped else duration(run.duration, compact=True)
            if run.status is RunState.RUNNING:
                took = f"{duration(now - run.started_at, compact=True)} so far"
            note = run_note(run)
            rows.append((run.id, [
                self._run_cell(run), escape(run.pipeline), escape(run.trigger),
                badge(run.status.value),
                f"<span title='{escape(when(run.started_at))}'>{escape(ago(run.started_at, now))}"
                "</span>",
                took,
                f"<span title='{escape(note)}' style='white-space:normal'>{escape(note)}</span>",
            ], {"details": True}))
        self._table.update(rows)
        for run_id, row in self._table.rows.items():
            label = "hide" if run_id == self.selected else "details"
            if row.buttons["details"].description != label:
                row.buttons["details"].description = label
        self._update_trend()
        self._update_detail()

    def _mlflow_links(self, runs: list[Run]) -> dict[str, str]:
        """{run id: its page in the MLflow UI}, when the workspace's UI is running."""
        tracked = [r for r in runs if r.mlflow_run_id]
        ui = running_ui_url(self.workspace.home) if tracked else None
        if not ui:
            return {}
        experiments = experiments_of(self.workspace.home, [r.mlflow_run_id for r in tracked])
        return {r.id: mlflow_run_url(ui, experiments.get(r.mlflow_run_id), r.mlflow_run_id)
                for r in tracked}

    def _run_cell(self, run: Run) -> str:
        link = self._links.get(run.id)
        if not link:
            return f"<code>{escape(run.id)}</code>"
        return (f"<a href='{escape(link)}' target='_blank' rel='noopener' title='open in MLflow'"
                f" style='color:{TONE_COLOURS['info']};text-decoration:underline'>"
                f"<code>{escape(run.id)}</code></a>")

    def _update_trend(self) -> None:
        """Trends over each pipeline's whole history (not only the runs listed), deployed runs
        and rollbacks marked."""
        store = self.workspace.store
        series = trend_series(metric_series(store, self.pipeline, limit=TREND_RUNS),
                              deployments(workspace=self.workspace, limit=500))
        names = sorted({k for s in series.values() for p in s["points"] for k in p["metrics"]})
        if list(self._metric.options) != names:
            self._metric.options = names
        metric = self.metric if self.metric in names else (names[0] if names else None)
        if metric and self._metric.value != metric:
            self._metric.value = metric
        charts = []
        if metric:
            for name, entry in sorted(series.items())[:4]:
                chart = trend_svg(name, metric, entry)
                if chart:
                    charts.append(f"<div style='display:inline-block;margin-right:16px'>"
                                  f"<div style='color:{TONE_COLOURS['text']}'>{escape(name)}</div>"
                                  f"{chart}</div>")
        value = "".join(charts) + (f"<div>{legend_html()}</div>" if charts else "")
        if self._trend.value != value:
            self._trend.value = value

    def _update_detail(self) -> None:
        run = self._runs.get(self.selected or "")
        if run is None and self.selected:
            run = self.workspace.get_run(self.selected)
        value = ""
        if run is not None:
            url = self._links.get(run.id)
            if url is None and run.mlflow_run_id and run.id not in self._runs:
                url = self._mlflow_links([run]).get(run.id)
            value = run_detail_html(run, mlflow_url=url)
        if self._detail.value != value:
            self._detail.value = value
