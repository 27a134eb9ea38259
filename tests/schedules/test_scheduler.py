"""The generic scheduler: a fake clock drives the logic; a few real-time tests poll."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from ctcd_jupyter.clock import FakeClock, SystemClock
from ctcd_jupyter.errors import CtcdTimeoutError, ScheduleError
from ctcd_jupyter.schedules.records import (
    ScheduleRecord,
    ScheduleState,
    delete_schedule_record,
    load_schedule_records,
    save_schedule_record,
)
from ctcd_jupyter.schedules.scheduler import Scheduler
from ctcd_jupyter.schedules.trigger import Schedule
from ctcd_jupyter.state import Store

T0 = 1_800_000_000.0


class Recorder:
    """A job that records its ticks; `gate` (if set) holds it until the test opens it."""

    def __init__(self, fail_on: set[int] | None = None, gate: threading.Event | None = None):
        self.ticks: list[float] = []
        self.fail_on = fail_on or set()
        self.gate = gate
        self.started = threading.Event()

    def __call__(self, tick: float) -> int:
        self.ticks.append(tick)
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(5), "test never opened the gate"
        if len(self.ticks) in self.fail_on:
            raise RuntimeError(f"boom {len(self.ticks)}")
        return len(self.ticks)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def events() -> list:
    return []


@pytest.fixture
def sched(clock, events):
    s = Scheduler(clock, on_event=events.append)
    yield s
    s.stop(timeout=2.0)


def every(seconds: float, **kw) -> Schedule:
    return Schedule(interval_second=seconds, tz="UTC", now=T0, **kw)


def step(clock: FakeClock, sched: Scheduler, seconds: float) -> None:
    clock.advance(seconds)
    sched.wait_idle()


def kinds(events: list, name: str | None = None) -> list[str]:
    return [e.kind for e in events if name is None or e.name == name]


# -- firing ----------------------------------------------------------------------------------
def test_thread_starts_lazily_and_first_fire_is_at_registration(clock, sched):
    assert not sched.running
    job = Recorder()
    sched.add("a", every(10), job)
    assert sched.running
    sched.wait_idle()
    assert job.ticks == [T0]
    for _ in range(3):
        step(clock, sched, 10)
    assert job.ticks == [T0, T0 + 10, T0 + 20, T0 + 30]
    rec = sched.get("a")
    assert (rec.fired, rec.succeeded, rec.skipped, rec.failed) == (4, 4, 0, 0)
    assert rec.next_fire == T0 + 40 and rec.last_tick == T0 + 30 and not rec.running


def test_fires_stay_anchored_when_the_clock_is_late(clock, sched):
    job = Recorder()
    sched.add("a", every(10, start_time=T0 + 5), job)
    step(clock, sched, 7)  # woke 2 s late
    step(clock, sched, 10)
    assert job.ticks == [T0 + 5, T0 + 15]


def test_no_wakeups_while_nothing_is_due(clock, sched, events):
    job = Recorder()
    sched.add("a", every(3600), job)
    sched.wait_idle()
    step(clock, sched, 3599)
    assert job.ticks == [T0]
    step(clock, sched, 1)
    assert job.ticks == [T0, T0 + 3600]


def test_event_sequence(clock, sched, events):
    sched.add("a", every(10, end_time=T0 + 10), Recorder(fail_on={2}))
    sched.wait_idle()
    step(clock, sched, 10)
    assert kinds(events) == ["fired", "succeeded", "fired", "failed", "completed"]
    assert isinstance(events[3].error, RuntimeError) and events[3].tick == T0 + 10
    assert events[1].result == 1 and events[1].duration == 0


# -- overlap, failure, completion ------------------------------------------------------------
def test_a_run_longer_than_many_ticks_is_reported_once_with_the_count(clock, sched, events):
    gate = threading.Event()
    job = Recorder(gate=gate)
    sched.add("a", every(0.25), job)  # a binary fraction: the fake clock lands on the grid
    assert job.started.wait(2)
    for _ in range(50):
        step_no_jobs(clock, sched, 0.25)
    clock.advance(0.125)  # off the grid: the next tick comes after the run
    gate.set()
    sched.wait_idle()
    skipped = [e for e in events if e.kind == "skipped"]
    assert len(skipped) == 1 and skipped[0].count == 50 and skipped[0].reason == "running"
    assert sched.get("a").skipped == 50



def test_tick_while_running_is_skipped_and_recorded(clock, sched, events):
    gate = threading.Event()
    job = Recorder(gate=gate)
    sched.add("a", every(1), job)
    assert job.started.wait(2)
    step_no_jobs(clock, sched, 1)
    step_no_jobs(clock, sched, 1)
    gate.set()
    sched.wait_idle()
    assert job.ticks == [T0]
    rec = sched.get("a")
    assert (rec.fired, rec.skipped, rec.succeeded) == (1, 2, 1)
    skipped = [e for e in events if e.kind == "skipped"]
    # one report for the busy period, with the count of ticks (issue 8: no row per tick)
    assert [(e.tick, e.reason, e.count) for e in skipped] == [(T0 + 2, "running", 2)]
    step(clock, sched, 1)  # the next tick after the run finished fires normally
    assert job.ticks == [T0, T0 + 3]


def step_no_jobs(clock: FakeClock, sched: Scheduler, seconds: float) -> None:
    clock.advance(seconds)
    sched.wait_idle(jobs=False)


def test_failure_then_next_tick_fires(clock, sched):
    job = Recorder(fail_on={1})
    sched.add("a", every(5), job)
    sched.wait_idle()
    rec = sched.get("a")
    assert rec.last_outcome == "failed" and rec.last_error == "RuntimeError: boom 1"
    step(clock, sched, 5)
    rec = sched.get("a")
    assert job.ticks == [T0, T0 + 5]
    assert (rec.failed, rec.succeeded, rec.last_outcome, rec.last_error) == (
        1, 1, "succeeded", None)


def test_a_job_raising_base_exceptions_does_not_kill_anything(clock, sched):
    def job(tick: float) -> None:
        raise KeyboardInterrupt if tick == T0 else SystemExit(3)

    sched.add("a", every(1), job)
    sched.wait_idle()
    step(clock, sched, 1)
    assert sched.running and sched.get("a").failed == 2


def test_event_handler_errors_are_contained(clock):
    def handler(event) -> None:
        raise ValueError("bad handler")

    s = Scheduler(clock, on_event=handler)
    job = Recorder()
    s.add("a", every(1), job)
    s.wait_idle()
    step(clock, s, 1)
    assert job.ticks == [T0, T0 + 1] and s.running
    s.stop()


def test_end_time_completes_the_schedule(clock, sched, events):
    job = Recorder()
    sched.add("a", every(10, end_time=T0 + 25), job)
    sched.wait_idle()
    for _ in range(5):
        step(clock, sched, 10)
    assert job.ticks == [T0, T0 + 10, T0 + 20]
    rec = sched.get("a")
    assert rec.state is ScheduleState.COMPLETED and rec.next_fire is None
    assert kinds(events).count("completed") == 1
    with pytest.raises(ScheduleError, match="has completed"):
        sched.resume("a")


def test_completion_waits_for_the_last_run(clock, sched, events):
    gate = threading.Event()
    sched.add("a", every(10, end_time=T0 + 5), Recorder(gate=gate))
    step_no_jobs(clock, sched, 10)
    assert sched.get("a").state is ScheduleState.ACTIVE and sched.get("a").running
    gate.set()
    sched.wait_idle()
    assert sched.get("a").state is ScheduleState.COMPLETED
    assert kinds(events)[-2:] == ["succeeded", "completed"]


def test_a_long_job_does_not_delay_another_schedule(clock, sched):
    gate = threading.Event()
    slow, fast = Recorder(gate=gate), Recorder()
    try:
        sched.add("slow", every(10), slow)
        sched.add("fast", every(1), fast)
        for k in range(1, 4):
            poll(lambda k=k: sched.get("fast").succeeded == k)
            clock.advance(1)
        poll(lambda: sched.get("fast").succeeded == 4)
        assert fast.ticks == [T0, T0 + 1, T0 + 2, T0 + 3]
        assert slow.ticks == [T0] and sched.get("slow").running
    finally:
        gate.set()


# -- pause, resume, catch-up, clock jumps -----------------------------------------------------
def test_pause_resume_without_catchup_runs_once(clock, sched, events):
    job = Recorder()
    sched.add("a", every(1), job)
    sched.wait_idle()
    assert sched.pause("a").state is ScheduleState.PAUSED
    step(clock, sched, 10.5)
    assert job.ticks == [T0]
    sched.resume("a")
    sched.wait_idle()
    assert job.ticks == [T0, T0 + 10]  # one run, for the latest missed tick
    assert [(e.reason, e.count) for e in events if e.kind == "skipped"] == [("coalesced", 9)]
    step(clock, sched, 0.5)
    assert job.ticks == [T0, T0 + 10, T0 + 11]


def test_pause_resume_with_catchup_runs_each_missed_tick_once(clock, sched):
    job = Recorder()
    sched.add("a", every(1, catchup=True), job)
    sched.wait_idle()
    sched.pause("a")
    step(clock, sched, 5)
    sched.resume("a")
    sched.wait_idle()
    assert job.ticks == [T0 + k for k in range(6)]
    assert sched.get("a").skipped == 0


def test_catchup_is_bounded(clock, events):
    s = Scheduler(clock, on_event=events.append, max_catchup=10)
    job = Recorder()
    s.add("a", every(1, catchup=True), job)
    s.wait_idle()
    s.pause("a")
    step(clock, s, 1000)
    s.resume("a")
    s.wait_idle()
    assert job.ticks == [T0] + [T0 + k for k in range(1, 11)]
    skipped = [e for e in events if e.kind == "skipped"]
    assert [(e.reason, e.count) for e in skipped] == [("catch-up limit", 990)]
    s.stop()


def test_forward_clock_jump_coalesces(clock, sched, events):
    job = Recorder()
    sched.add("a", every(60), job)
    sched.wait_idle()
    clock.set(T0 + 86400 + 30)  # a suspended laptop wakes a day later
    sched.wait_idle()
    assert job.ticks == [T0, T0 + 86400]
    assert sched.get("a").skipped == 86400 // 60 - 1
    assert sched.get("a").next_fire == T0 + 86400 + 60


def test_backward_clock_jump_never_reruns_a_tick(clock, sched):
    job = Recorder()
    sched.add("a", every(10), job)
    sched.wait_idle()
    step(clock, sched, 10)
    clock.set(T0 - 100)
    sched.wait_idle()
    clock.set(T0 + 20)
    sched.wait_idle()
    assert job.ticks == [T0, T0 + 10, T0 + 20]


def test_cron_schedule_fires_on_fake_clock(events):
    start = 1_800_000_000.0 - (1_800_000_000 % 300) + 300  # a multiple of five minutes
    clock = FakeClock(start - 1)
    s = Scheduler(clock, on_event=events.append)
    job = Recorder()
    s.add("c", Schedule(cron_expression="*/5 * * * *", tz="UTC"), job)
    s.wait_idle()
    assert job.ticks == []
    step(clock, s, 1)
    step(clock, s, 300)
    assert job.ticks == [start, start + 300]
    s.stop()


def test_max_workers_skips_when_full(clock, events):
    gate = threading.Event()
    s = Scheduler(clock, on_event=events.append, max_workers=1)
    s.add("a", every(10), Recorder(gate=gate))
    s.wait_idle(jobs=False)
    s.add("b", every(10), Recorder())
    s.wait_idle(jobs=False)
    assert s.get("b").skipped == 1
    assert [e.reason for e in events if e.kind == "skipped"] == ["max_workers"]
    gate.set()
    s.stop()


# -- registry operations ----------------------------------------------------------------------
def test_replace_remove_and_unknown_names(clock, sched):
    first, second = Recorder(), Recorder()
    sched.add("a", every(10), first)
    sched.wait_idle()
    with pytest.raises(ScheduleError, match="exists"):
        sched.add("a", every(5), second, replace=False)
    sched.add("a", every(5), second)
    sched.wait_idle()
    assert sched.get("a").schedule.interval_second == 5 and second.ticks == [T0]
    assert "a" in sched and [r.name for r in sched.list()] == ["a"]
    sched.remove("a")
    step(clock, sched, 10)
    assert second.ticks == [T0] and sched.list() == []
    with pytest.raises(ScheduleError, match="no schedule named 'zz'; known: none"):
        sched.get("zz")
    with pytest.raises(ScheduleError, match="not callable"):
        sched.add("b", every(1), "not a job")


def test_replacing_a_running_entry_does_not_overlap(clock, sched):
    gate = threading.Event()
    old, new = Recorder(gate=gate), Recorder()
    sched.add("a", every(10), old)
    assert old.started.wait(2)
    sched.add("a", every(10), new)
    sched.wait_idle(jobs=False)
    assert new.ticks == [] and sched.get("a").skipped == 1
    gate.set()
    sched.wait_idle()
    step(clock, sched, 10)
    assert new.ticks == [T0 + 10]


def test_restore_after_restart_coalesces_downtime(clock, sched):
    job = Recorder()
    sched.add("a", every(10, start_time=T0 - 100), job, last_tick=T0 - 50, paused=True,
              counts={"fired": 5, "succeeded": 5})
    assert sched.get("a").state is ScheduleState.PAUSED
    sched.resume("a")
    sched.wait_idle()
    assert job.ticks == [T0]
    rec = sched.get("a")
    assert (rec.fired, rec.succeeded, rec.skipped) == (6, 6, 4)


# -- wait and stop ----------------------------------------------------------------------------
def test_wait_returns_the_outcomes(clock, sched):
    sched.add("a", every(1), Recorder(fail_on={2}))
    sched.wait_idle()
    # the clock moves from another thread once wait() has taken its starting count
    mover = threading.Timer(0.05, lambda: [step(clock, sched, 1) for _ in range(2)])
    mover.start()
    outcomes = sched.wait("a", runs=2, timeout=5)
    mover.join()
    assert [o.ok for o in outcomes] == [False, True]
    assert [o.tick for o in outcomes] == [T0 + 1, T0 + 2]
    assert [o.result for o in outcomes] == [None, 3]
    assert str(outcomes[0].error) == "boom 2"


def test_wait_times_out_with_a_clear_message(clock, sched):
    sched.add("a", every(60), Recorder())
    sched.wait_idle()
    started = time.monotonic()
    with pytest.raises(CtcdTimeoutError) as info:
        sched.wait("a", runs=3, timeout=0.05)
    assert time.monotonic() - started < 1
    assert "schedule 'a': 0 of 3 runs finished within 0.05 s" in str(info.value)
    assert "state ACTIVE" in str(info.value) and info.value.timeout == 0.05
    assert isinstance(info.value, TimeoutError)


def test_wait_fails_fast_when_the_schedule_completes(clock, sched):
    sched.add("a", every(10, end_time=T0 + 5), Recorder())
    sched.wait_idle()
    with pytest.raises(ScheduleError, match="'a' is COMPLETED after 0 of 2 runs"):
        sched.wait("a", runs=2, timeout=5)


def test_stop_within_two_seconds_while_a_job_is_blocked(clock, sched):
    gate = threading.Event()
    sched.add("a", every(1), Recorder(gate=gate))
    sched.wait_idle(jobs=False)
    started = time.monotonic()
    assert sched.stop(timeout=0.2) is False  # the job is still blocked: reported, not waited on
    assert time.monotonic() - started < 2
    assert not sched.running and sched.get("a").state is ScheduleState.STOPPED
    gate.set()


def test_resume_after_stop_restarts_the_thread(clock, sched):
    job = Recorder()
    sched.add("a", every(1), job)
    sched.wait_idle()
    assert sched.stop() is True
    step(clock, sched, 5)
    assert job.ticks == [T0]
    sched.resume("a")
    assert sched.running
    sched.wait_idle()
    assert job.ticks == [T0, T0 + 5]


# -- records and the store --------------------------------------------------------------------
def test_records_round_trip_through_the_store(tmp_path, clock, sched):
    sched.add("a", Schedule(cron_expression="0 * * * *", tz="Europe/Berlin"), Recorder())
    sched.add("b", every(1), Recorder())
    sched.wait_idle()
    store = Store(tmp_path)
    for rec in sched.list():
        save_schedule_record(store, rec.name, {**rec.to_dict(), "pipeline": {"steps": ["x"]}})
    save_schedule_record(store, "b", {**sched.get("b").to_dict(), "pipeline": {"v": 2}})
    rows = load_schedule_records(store)
    assert [r["name"] for r in rows] == ["a", "b"] and rows[1]["pipeline"] == {"v": 2}
    again = ScheduleRecord.from_dict(rows[1], state="STOPPED")
    assert again.state is ScheduleState.STOPPED and again.schedule == sched.get("b").schedule
    assert again.fired == 1 and again.last_tick == T0
    assert ScheduleRecord.from_dict(rows[0]).to_dict() == sched.get("a").to_dict()
    assert delete_schedule_record(store, "a") is True
    assert delete_schedule_record(store, "a") is False
    assert [r["name"] for r in load_schedule_records(Store(tmp_path))] == ["b"]
    store.close()


# -- real time (SystemClock): short intervals, deadlines, no bare sleeps ----------------------
def poll(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.005)


def test_real_time_interval_fires_on_time():
    late: list[float] = []
    s = Scheduler(SystemClock())
    s.add("rt", Schedule(interval_second=0.05, tz="UTC"), lambda t: late.append(time.time() - t))
    try:
        s.wait("rt", runs=6, timeout=5)
        assert max(late) < 0.05, late
    finally:
        assert s.stop(timeout=2)


def test_real_time_overlap_is_skipped_and_stop_is_prompt():
    gate = threading.Event()
    s = Scheduler(SystemClock())
    s.add("rt", Schedule(interval_second=0.02, tz="UTC"), lambda t: gate.wait(5))
    poll(lambda: s.get("rt").skipped >= 3)
    assert s.get("rt").fired == 1
    started = time.monotonic()
    s.stop(timeout=0.3)
    assert time.monotonic() - started < 2 and not s.running
    gate.set()


def test_real_time_wait_is_interruptible_by_ctrl_c():
    s = Scheduler(SystemClock())
    s.add("rt", Schedule(interval_second=3600, tz="UTC"), lambda t: None)
    main = threading.main_thread().ident
    timer = threading.Timer(0.1, signal.pthread_kill, args=(main, signal.SIGINT))
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            s.wait("rt", runs=5, timeout=30)
        assert time.monotonic() - started < 2
        assert s.running  # the interrupt hit the waiting cell, not the scheduler
    finally:
        timer.cancel()
        s.stop()


def test_worker_threads_are_reused_and_spare_ones_exit():
    from ctcd_jupyter.schedules.workers import Workers as _Workers

    workers = _Workers(idle_timeout=0.05)
    idents: list[int] = []
    for k in range(1, 4):
        workers.submit(lambda: idents.append(threading.get_ident()))
        poll(lambda k=k: len(idents) == k and workers._idle == 1)
    assert len(set(idents)) == 1  # one warm thread served all three
    poll(lambda: not any(t.ident == idents[0] for t in threading.enumerate()))
    assert workers._idle == 0


def test_start_in_the_past_runs_once_now_on_the_grid(clock, sched):
    job = Recorder()
    sched.add("a", every(60, start_time=T0 - 600), job)
    sched.wait_idle()
    assert job.ticks == [T0]  # ten missed ticks coalesced into one run at the latest
    assert sched.get("a").skipped == 10 and sched.get("a").next_fire == T0 + 60


def test_start_in_the_past_with_catchup_runs_each_missed_tick(clock, sched):
    job = Recorder()
    sched.add("a", every(60, start_time=T0 - 180, catchup=True), job)
    sched.wait_idle()
    assert job.ticks == [T0 - 180, T0 - 120, T0 - 60, T0]


def test_cron_without_start_waits_for_its_next_time(clock, sched):
    clock.set(T0 + 30)  # T0 itself is on the hour
    job = Recorder()
    sched.add("a", Schedule(cron_expression="0 * * * *", tz="UTC", now=T0), job)
    sched.wait_idle()
    assert job.ticks == [] and sched.get("a").next_fire == T0 + 3600


def test_waiters_return_only_once_the_handlers_have_seen_the_outcome(clock):
    """wait_idle() (and wait()) returned while the "succeeded" event was still being handled,
    so a panel polled right after could show the run as RUNNING (a flaky widget test)."""
    handling, release, seen = threading.Event(), threading.Event(), []

    def handler(event) -> None:
        if event.kind == "succeeded":
            handling.set()
            assert release.wait(10), "test never released the handler"
            seen.append(event.kind)

    s = Scheduler(clock, on_event=handler)
    s.add("h", every(30), Recorder())
    try:
        clock.advance(30)
        assert handling.wait(10)
        returned = []
        idle = threading.Thread(target=lambda: (s.wait_idle(10), returned.append(list(seen))))
        idle.start()
        idle.join(0.5)  # with the outcome counted but not yet handled, it must still wait
        assert idle.is_alive() and not returned
        release.set()
        idle.join(10)
        assert returned == [["succeeded"]]  # it returned after the handler, not before
    finally:
        release.set()
        s.stop(timeout=2.0)
