"""Scheduler benchmark: fire lateness, idle CPU, and tick-to-first-step, each beside a baseline.

Run: `.venv/bin/python benchmarks/bench_scheduler.py [--quick]`. Goals: lateness p99 < 10 ms at a
50 ms interval; an idle scheduler with one hourly schedule uses < 10 ms CPU over 10 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from collections.abc import Callable

import psutil

from ctcd_jupyter.schedules.scheduler import Scheduler, SchedulerEvent
from ctcd_jupyter.schedules.trigger import Schedule

Mark = Callable[[], None]
JobFactory = Callable[[Mark], Callable[[float], object]]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.3f} ms"


# -- lateness ---------------------------------------------------------------------------------
def baseline_lateness(ticks: int, interval: float) -> list[float]:
    """A bare thread waiting on an Event until each anchored deadline: the floor we can reach."""
    late: list[float] = []
    event = threading.Event()
    start = time.time() + interval

    def loop() -> None:
        for k in range(ticks):
            deadline = start + k * interval
            event.wait(max(0.0, deadline - time.time()))
            late.append(time.time() - deadline)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    thread.join()
    return late


def scheduler_lateness(ticks: int, interval: float) -> list[float]:
    """When the job of each tick starts on its worker thread, minus the tick."""
    late: list[float] = []

    def on_event(event: SchedulerEvent) -> None:
        if event.kind == "fired":
            late.append(event.time - event.tick)

    sched = Scheduler(on_event=on_event)
    schedule = Schedule(interval_second=interval, start_time=time.time() + interval, tz="UTC")
    sched.add("bench", schedule, lambda tick: None)
    sched.wait("bench", runs=ticks, timeout=ticks * interval * 2 + 10)
    sched.stop()
    return late[:ticks]


def busy_python_thread() -> threading.Event:
    """A thread spinning Python bytecode (a user's cell training a model): GIL contention."""
    done = threading.Event()

    def spin() -> None:
        x = 0
        while not done.is_set():
            x += 1

    threading.Thread(target=spin, daemon=True).start()
    return done


# -- idle CPU ---------------------------------------------------------------------------------
def thread_cpu(native_id: int) -> float:
    for t in psutil.Process().threads():
        if t.id == native_id:
            return t.user_time + t.system_time
    return 0.0


def idle_cpu(seconds: float) -> tuple[float, float, float, float]:
    """(scheduler thread CPU, process CPU) with one hourly schedule, then the same for a plain
    thread blocked on an Event, each over `seconds`."""
    sched = Scheduler()
    sched.add("hourly", Schedule(interval_second=3600, start_time=time.time() + 3600, tz="UTC"),
              lambda tick: None)
    sched.wait_idle()
    native = sched._thread.native_id  # psutil reads per-thread CPU by native id
    before_thread, before_proc = thread_cpu(native), time.process_time()
    time.sleep(seconds)
    sched_thread = thread_cpu(native) - before_thread
    sched_proc = time.process_time() - before_proc
    sched.stop()

    event = threading.Event()
    plain = threading.Thread(target=event.wait, daemon=True)
    plain.start()
    before_thread, before_proc = thread_cpu(plain.native_id), time.process_time()
    time.sleep(seconds)
    base_thread = thread_cpu(plain.native_id) - before_thread
    base_proc = time.process_time() - before_proc
    event.set()
    return sched_thread, sched_proc, base_thread, base_proc


# -- tick to first step -----------------------------------------------------------------------
def trivial_job_factory(mark: Mark) -> Callable[[float], object]:
    """The trivial job: its "first step" starts as soon as the job does."""

    def job(tick: float) -> None:
        mark()

    return job


def tick_to_first_step(job_factory: JobFactory = trivial_job_factory, ticks: int = 50,
                       interval: float = 0.05) -> list[float]:
    """Seconds from each tick to the moment the job calls `mark()` (its first step starting).

    PIPELINE HOOK: pass a factory whose job runs a real pipeline and calls `mark()` when the
    first step starts; the trivial factory measures the scheduler's share alone.
    """
    delays: list[float] = []
    current: dict[str, float] = {}

    def mark() -> None:
        delays.append(time.time() - current["tick"])

    inner = job_factory(mark)

    def job(tick: float) -> object:
        current["tick"] = tick
        return inner(tick)

    sched = Scheduler()
    sched.add("first-step", Schedule(interval_second=interval, start_time=time.time() + interval,
                                     tz="UTC"), job)
    sched.wait("first-step", runs=ticks, timeout=ticks * interval * 4 + 30)
    sched.stop()
    return delays


def pipeline_tick_to_first_step(ticks: int = 50, interval: float = 0.05) -> list[float]:
    """The same through the real path: `pipeline.run(schedule=...)` in a workspace (MLflow off),
    read back from the stored runs: first step's start minus the run's tick."""
    import tempfile

    import ctcd_jupyter as ctcd

    with tempfile.TemporaryDirectory() as home:
        ws = ctcd.Workspace(home, namespace={}, tracking=False)
        pipeline = ctcd.Pipeline("bench", [ctcd.Step("load", "x = 1"), ctcd.Step("fit", "y = x")],
                                 workspace=ws)
        pipeline.run(schedule=Schedule(interval_second=interval, tz="UTC"))
        ws.scheduling.wait("bench", runs=ticks, timeout=ticks * interval * 4 + 30)
        ws.scheduling.stop()
        runs = [r for r in ws.runs("bench") if r.ok]
        ws.close()
    return [r.steps[0].started - r.tick for r in runs]


# -- report -----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer ticks, 2 s idle windows")
    args = parser.parse_args()
    ticks, idle = (50, 2.0) if args.quick else (200, 10.0)
    interval = 0.05

    base = baseline_lateness(ticks, interval)
    sched = scheduler_lateness(ticks, interval)
    print(f"fire lateness, {ticks} ticks at {interval * 1000:g} ms (tick -> job start on worker)")
    print(f"  scheduler      p50 {ms(percentile(sched, 50))}   p99 {ms(percentile(sched, 99))}"
          f"   max {ms(max(sched))}")
    print(f"  Event.wait     p50 {ms(percentile(base, 50))}   p99 {ms(percentile(base, 99))}"
          f"   max {ms(max(base))}")
    print(f"  ratio          p50 {percentile(sched, 50) / percentile(base, 50):6.2f}x"
          f"    p99 {percentile(sched, 99) / percentile(base, 99):6.2f}x"
          f"   goal p99 < 10 ms: {'met' if percentile(sched, 99) < 0.010 else 'MISSED'}")
    done = busy_python_thread()
    try:
        loaded = scheduler_lateness(ticks, interval)
    finally:
        done.set()
    print(f"  scheduler, a Python thread spinning (GIL switch interval "
          f"{sys.getswitchinterval() * 1000:g} ms)")
    print(f"                 p50 {ms(percentile(loaded, 50))}   p99 {ms(percentile(loaded, 99))}"
          f"   max {ms(max(loaded))}")

    s_thread, s_proc, b_thread, b_proc = idle_cpu(idle)
    print(f"idle CPU over {idle:g} s, one hourly schedule")
    print(f"  scheduler thread {ms(s_thread)}   whole process {ms(s_proc)}")
    print(f"  plain idle thread {ms(b_thread)}   whole process {ms(b_proc)}"
          f"   goal < 10 ms: {'met' if s_proc < 0.010 else 'MISSED'}")

    delays = tick_to_first_step(ticks=min(ticks, 50))
    print(f"tick -> first step starting, trivial job ({len(delays)} ticks)")
    print(f"  p50 {ms(statistics.median(delays))}   p99 {ms(percentile(delays, 99))}"
          f"   max {ms(max(delays))}")
    real = pipeline_tick_to_first_step(ticks=min(ticks, 50))
    print(f"tick -> first step starting, a scheduled 2-step pipeline ({len(real)} runs)")
    print(f"  p50 {ms(statistics.median(real))}   p99 {ms(percentile(real, 99))}"
          f"   max {ms(max(real))}   ({statistics.median(real) / statistics.median(delays):.1f}x "
          f"the trivial job)")


if __name__ == "__main__":
    main()
