"""Panels update their rows in place and close what they remove: the kernel's widget count
stays flat while schedules tick (issue 8 item 17), and a closed panel stops polling."""

from __future__ import annotations

import threading

from conftest import eventually, rows, text, widget_count

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step
from ctcd_jupyter.clock import FakeClock
from ctcd_jupyter.schedules.pipelines import Scheduling
from ctcd_jupyter.widgets import RunsView, SchedulesPanel, ServicesPanel


def test_widget_count_stays_flat_over_100_ticks_with_two_panels(workspace):
    clock = FakeClock(1_800_000_000.0)
    workspace._scheduling = Scheduling(workspace, clock=clock)
    workspace.namespace = {}
    for name in ("a", "b"):
        Pipeline(name, [Step(f"s{name}", "x = 1")]).run(schedule=ctcd.Schedule(
            interval_second=30))
    workspace.scheduling.scheduler.wait_idle(10)
    schedules = SchedulesPanel(poll=False)
    services = ServicesPanel(poll=False)
    runs = RunsView(limit=10, poll=False)

    def tick(n: int) -> None:
        for _ in range(n):
            clock.advance(30)
            workspace.scheduling.scheduler.wait_idle(10)
            schedules.poll_once()
            services.poll_once()
            runs.poll_once()

    tick(10)  # every table is full (limit 10) before counting
    before = widget_count()
    tick(100)
    assert "111 / 0 / 0" in text(rows(schedules)["a"])  # 1 + 110 ticks, all shown
    assert widget_count() == before
    for panel in (schedules, services, runs):
        panel.close()
    workspace.scheduling.stop()


def _owned(widget, seen=None):
    """Every widget model reachable from `widget` (children, layout, style, outputs)."""
    from ipywidgets import Widget

    seen = set() if seen is None else seen
    if id(widget) in seen:
        return seen
    seen.add(id(widget))
    found = [widget]
    for name in widget.keys:
        value = getattr(widget, name, None)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(item, Widget) and id(item) not in seen:
                found += _owned(item, seen)
    return found


def test_close_releases_every_widget_and_stops_polling(workspace):
    from ipywidgets.widgets import widget

    workspace.namespace = {}
    Pipeline("p", [Step("s", "x = 1")]).run()
    panel = SchedulesPanel(poll=True)
    view = RunsView(poll=True)
    assert any(t.name == "ctcd-panel-poll" for t in threading.enumerate())
    owned = {w.model_id for w in [*_owned(panel), *_owned(view)] if w.model_id}
    assert len(owned) > 10
    panel.close()
    view.close()
    # (a count of every widget in the process would also see other tests' leftovers)
    assert owned.isdisjoint(widget._instances)
    eventually(lambda: not any(t.name == "ctcd-panel-poll" and t.is_alive()
                               for t in threading.enumerate()), 10)
