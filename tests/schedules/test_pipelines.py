"""Pipelines on schedules: the workspace glue, driven by a fake clock (no sleeps)."""

from __future__ import annotations

import pytest

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, RunState, Step
from ctcd_jupyter.clock import FakeClock
from ctcd_jupyter.schedules.pipelines import Scheduling
from ctcd_jupyter.schedules.trigger import Schedule

T0 = 1_800_000_000.0


@pytest.fixture
def clock():
    return FakeClock(T0)


@pytest.fixture
def scheduling(workspace, clock):
    sched = Scheduling(workspace, clock=clock)
    workspace._scheduling = sched
    yield sched
    sched.stop()


def tick(scheduling, clock, seconds):
    clock.advance(seconds)
    scheduling.scheduler.wait_idle(timeout=10)


def test_each_tick_runs_fresh_and_records_schedule_runs(workspace, scheduling, clock):
    counter = iter(range(100))
    workspace.namespace = {"fetch": lambda: next(counter), "ctcd": ctcd}
    Pipeline("ct", [Step("load", "data = fetch()\nprint('got', data)"),
                    Step("fit", "score = data * 10\nctcd.log_metric('score', score)")])
    record = Pipeline.run(ctcd.get_pipeline("ct"), schedule=Schedule(interval_second=60))
    assert record.next_fire == T0  # an interval schedule starts when registered
    scheduling.scheduler.wait_idle(timeout=10)
    tick(scheduling, clock, 60)
    tick(scheduling, clock, 60)
    runs = ctcd.runs("ct")
    assert [r.trigger for r in runs] == ["schedule"] * 3
    # fresh data each run: scheduled runs never come from the cache
    assert [r.metrics["score"] for r in runs] == [20.0, 10.0, 0.0]
    assert [r.tick for r in runs] == [T0 + 120, T0 + 60, T0]
    assert "got 2" in runs[0].log


def test_failing_run_is_failed_and_next_tick_still_fires(workspace, scheduling, clock):
    workspace.namespace = {"flaky": iter([1, 0, 2])}
    Pipeline("p", [Step("s", "v = 10 / next(flaky)")])
    scheduling.add(ctcd.get_pipeline("p"), Schedule(interval_second=10))
    scheduling.scheduler.wait_idle(timeout=10)
    tick(scheduling, clock, 10)
    tick(scheduling, clock, 10)
    statuses = [r.status for r in ctcd.runs("p")]
    assert statuses == [RunState.SUCCEEDED, RunState.FAILED, RunState.SUCCEEDED]
    record = scheduling.scheduler.get("p")
    assert (record.succeeded, record.failed) == (2, 1)


def test_missing_name_is_rejected_when_scheduling(workspace, scheduling):
    workspace.namespace = {}
    Pipeline("p", [Step("s", "v = nowhere + 1")])
    with pytest.raises(ctcd.MissingInputsError, match="nowhere"):
        ctcd.get_pipeline("p").run(schedule=Schedule(interval_second=10))


def test_paused_ticks_are_coalesced_and_recorded_skipped(workspace, scheduling, clock):
    workspace.namespace = {}
    Pipeline("p", [Step("s", "v = 1")])
    scheduling.add(ctcd.get_pipeline("p"), Schedule(interval_second=10))
    scheduling.scheduler.wait_idle(timeout=10)
    scheduling.pause("p")
    clock.advance(55)
    scheduling.resume("p")
    scheduling.scheduler.wait_idle(timeout=10)
    runs = ctcd.runs("p")
    assert [r.status for r in runs].count(RunState.SUCCEEDED) == 2
    skipped = [r for r in runs if r.status is RunState.SKIPPED]
    assert skipped and "coalesced" in skipped[0].log


def test_schedule_is_stored_and_resumable_in_a_new_kernel(workspace, scheduling, clock, home):
    workspace.namespace = {}
    Pipeline("p", [Step("s", "v = 1")])
    scheduling.add(ctcd.get_pipeline("p"), Schedule(interval_second=30), params={})
    scheduling.scheduler.wait_idle(timeout=10)
    scheduling.stop()

    # a "new kernel": a fresh workspace on the same state folder, steps not loaded yet
    other = ctcd.Workspace(home, namespace={}, tracking=False)
    try:
        restarted = Scheduling(other, clock=clock)
        [info] = restarted.overview()
        assert info.status == "STOPPED (kernel restarted)" and not info.live
        assert info.last_run is not None and info.last_run.status is RunState.SUCCEEDED
        with pytest.raises(ctcd.ScheduleError, match=r"steps that are not loaded.*: s"):
            restarted.resume("p")
        other.add_step(Step("s", "v = 1"))
        record = restarted.resume("p")
        assert record.state.value == "ACTIVE"
        restarted.scheduler.wait_idle(timeout=10)
        clock.advance(30)
        restarted.scheduler.wait_idle(timeout=10)
        assert restarted.scheduler.get("p").fired >= 2
        restarted.remove("p")
        assert restarted.overview() == []
        restarted.stop()
    finally:
        other.close()


def test_unknown_schedule_names_are_clear(scheduling):
    with pytest.raises(ctcd.ScheduleError, match="no schedule named"):
        scheduling.pause("nope")
    with pytest.raises(ctcd.ScheduleError, match="no schedule named 'nope'"):
        scheduling.remove("nope")


def test_tick_during_a_manual_run_is_skipped_not_overlapped(workspace, scheduling, clock):
    import threading

    started, release = threading.Event(), threading.Event()
    workspace.namespace = {"started": started, "release": release}
    Pipeline("p", [Step("s", "started.set()\nrelease.wait(30)\nv = 1", cache=False)])
    manual = threading.Thread(target=lambda: ctcd.get_pipeline("p").run())
    manual.start()
    assert started.wait(10)
    started.clear()
    scheduling.add(ctcd.get_pipeline("p"), Schedule(interval_second=10))
    scheduling.scheduler.wait_idle(timeout=10)
    release.set()
    manual.join(10)
    runs = ctcd.runs("p")
    skipped = [r for r in runs if r.status is RunState.SKIPPED]
    assert len(skipped) == 1 and "manual run" in skipped[0].log
    assert [r.trigger for r in runs if r.status is RunState.SUCCEEDED] == ["manual"]
    record = scheduling.scheduler.get("p")
    assert (record.succeeded, record.failed, record.skipped) == (0, 0, 1)
