"""One dispatcher for everything that is told about events: run observers and schedule
listeners alike keep order, hold weakly when asked, and survive a listener that raises."""

from __future__ import annotations

import gc
import logging

from ctcd_jupyter import Pipeline, Step
from ctcd_jupyter.clock import FakeClock
from ctcd_jupyter.engine.observers import Listeners, RunObserver
from ctcd_jupyter.schedules.pipelines import Scheduling
from ctcd_jupyter.schedules.trigger import Schedule


class Told:
    def __init__(self, heard: list, name: str):
        self.heard, self.name = heard, name

    def __call__(self, event: object) -> None:
        self.heard.append((self.name, event))

    def method(self, event: object) -> None:
        self.heard.append((self.name + ".method", event))


def test_listeners_keep_order_hold_weakly_and_isolate_failures():
    heard: list = []
    errors: list = []
    listeners = Listeners()
    strong = listeners.add(Told(heard, "a"))
    weak = listeners.add(Told(heard, "b"), weak=True)
    method_owner = Told(heard, "c")
    listeners.add(method_owner.method, weak=True)

    def broken(event: object) -> None:
        raise RuntimeError("boom")

    listeners.add(broken)
    listeners.add(Told(heard, "d"))
    listeners.each(lambda listener: listener(1), lambda listener, exc: errors.append(str(exc)))
    assert heard == [("a", 1), ("b", 1), ("c.method", 1), ("d", 1)] and errors == ["boom"]
    del weak, method_owner
    gc.collect()
    heard.clear()
    listeners.remove(broken)
    listeners.each(lambda listener: listener(2), lambda listener, exc: errors.append(str(exc)))
    assert heard == [("a", 2), ("d", 2)] and len(listeners) == 2
    assert strong in listeners.live()


def test_run_observers_and_schedule_listeners_share_it(workspace, caplog):
    class Broken(RunObserver):
        def run_start(self, run):
            raise ValueError("observer broke")

    workspace.observers.add(Broken())
    run = Pipeline("p", [Step("s", "x = 1")]).run()
    assert run.ok and run.warnings == ["Broken.run_start failed: ValueError: observer broke"]

    scheduling = Scheduling(workspace, clock=FakeClock(1_800_000_000.0))
    heard: list = []
    listener = Told(heard, "panel")

    def broken(event):
        raise RuntimeError("listener broke")

    scheduling.subscribe(broken)
    scheduling.subscribe(listener)
    try:
        scheduling.add(workspace.get_pipeline("p"), Schedule(interval_second=3600))
        with caplog.at_level(logging.ERROR):
            scheduling.pause("p")
    finally:
        scheduling.stop()
    assert ("panel", "paused") in [(n, e.kind) for n, e in heard]
    assert "a schedule listener" in caplog.text and "listener broke" in caplog.text
