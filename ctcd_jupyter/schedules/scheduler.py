"""The kernel's scheduler: one daemon thread that sleeps until the next fire time and runs jobs.

A job is any callable `job(tick) -> object`; the pipeline engine plugs pipeline runs in.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ..clock import Clock, SystemClock
from ..errors import CtcdTimeoutError, ScheduleError, unknown_name
from .records import ScheduleRecord, ScheduleState
from .trigger import Schedule
from .workers import Workers

__all__ = [
    "JobOutcome",
    "ScheduleRecord",
    "ScheduleState",
    "Scheduler",
    "SchedulerEvent",
    "SkipTick",
]

log = logging.getLogger(__name__)

Job = Callable[[float], object]
EventHandler = Callable[["SchedulerEvent"], object]
MAX_CATCHUP = 100
_COUNTS = ("fired", "skipped", "failed", "succeeded")


class SkipTick(Exception):
    """Raised by a job to say this tick did not run: counted and reported as skipped, with the
    exception's message as the reason."""


@dataclass(frozen=True)
class SchedulerEvent:
    """What happened: kind is fired, skipped, succeeded, failed or completed.

    `count` > 1 for skipped events that stand for several ticks; `reason` says why a tick was
    skipped ("running", "coalesced", "catch-up limit", "max_workers").
    """

    kind: str
    name: str
    tick: float | None
    time: float
    count: int = 1
    reason: str | None = None
    error: BaseException | None = None
    result: object = None
    duration: float | None = None


@dataclass(frozen=True)
class JobOutcome:
    """One finished job: its tick, clock times, and the result or the exception."""

    tick: float
    started: float
    finished: float
    ok: bool
    result: object = None
    error: BaseException | None = None

    @property
    def duration(self) -> float:
        return self.finished - self.started


@dataclass(eq=False)
class _Entry:
    name: str
    schedule: Schedule
    job: Job
    state: ScheduleState = ScheduleState.ACTIVE
    next_fire: float | None = None
    last_tick: float | None = None
    running: bool = False
    finishing: int = 0  # runs whose outcome is counted but whose events are not yet handled
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTS, 0))
    pending: deque[float] = field(default_factory=deque)  # catch-up ticks waiting to run
    completions: int = 0
    outcomes: deque[JobOutcome] = field(default_factory=lambda: deque(maxlen=100))
    last_outcome: str | None = None
    last_error: str | None = None
    last_started: float | None = None
    last_finished: float | None = None
    predecessor: _Entry | None = None  # a replaced entry whose job may still be running
    busy_skips: int = 0  # ticks that came while the entry's run was going, not yet reported
    busy_tick: float | None = None  # the latest of them

    def busy(self) -> bool:
        return self.running or (self.predecessor is not None and self.predecessor.running)

    def record(self) -> ScheduleRecord:
        return ScheduleRecord(
            name=self.name, schedule=self.schedule, state=self.state,
            next_fire=self.next_fire, last_tick=self.last_tick, running=self.running,
            last_outcome=self.last_outcome, last_error=self.last_error,
            last_started=self.last_started, last_finished=self.last_finished, **self.counts)


class Scheduler:
    """Runs jobs on schedules from one daemon thread, started by the first `add()`.

    Runs go to daemon worker threads (kept warm), so a long job delays no other schedule; an
    entry never runs twice at once (a tick that finds it running is skipped). `on_event` gets a
    `SchedulerEvent` on the scheduler or worker thread; whatever it raises is logged and dropped.
    """

    def __init__(self, clock: Clock | None = None, *, max_workers: int | None = None,
                 on_event: EventHandler | None = None, max_catchup: int = MAX_CATCHUP):
        self.clock: Clock = clock or SystemClock()
        self.max_workers = max_workers
        self.max_catchup = max_catchup
        self.on_event = on_event
        self._cond = threading.Condition()
        self.clock.subscribe(self._cond)
        self._entries: dict[str, _Entry] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._dirty = False  # something changed since the loop last looked
        self._sleeping = False
        self._active_jobs = 0
        self._finishing = 0
        self._workers = Workers()

    # -- public API ------------------------------------------------------------------------
    def add(self, name: str, schedule: Schedule, job: Job, *, replace: bool = True,
            paused: bool = False, last_tick: float | None = None,
            counts: Mapping[str, int] | None = None) -> ScheduleRecord:
        """Register `job` to run on `schedule` as `name`; starts the thread on first use.

        `last_tick` and `counts` restore an entry saved before a restart: ticks missed since
        `last_tick` are then coalesced (or caught up) like after a pause.
        """
        if not callable(job):
            raise ScheduleError(f"job for schedule {name!r} is not callable", schedule=name)
        with self._cond:
            old = self._entries.get(name)
            if old is not None and not replace:
                raise ScheduleError(f"schedule {name!r} exists; remove it first", schedule=name)
            now = self.clock.time()
            explicit_start = schedule.start
            schedule = schedule.anchored(now)
            entry = _Entry(name, schedule, job, last_tick=last_tick)
            entry.state = ScheduleState.PAUSED if paused else ScheduleState.ACTIVE
            if last_tick is not None:
                entry.next_fire = schedule.next_fire(last_tick)
            elif explicit_start is not None and explicit_start <= now:
                # A start in the past counts as missed ticks: one run now (or each, with
                # catch-up), as after a pause. `start_time=datetime.now()` runs right away.
                entry.next_fire = schedule.next_fire(explicit_start, inclusive=True)
            else:
                entry.next_fire = schedule.next_fire(now, inclusive=True)
            entry.counts.update({k: int(v) for k, v in (counts or {}).items() if k in _COUNTS})
            if old is not None and old.busy():
                entry.predecessor = old if old.running else old.predecessor
            self._entries[name] = entry
            self._changed()
            self._ensure_thread()
            return entry.record()

    def pause(self, name: str) -> ScheduleRecord:
        """Stop firing `name` until resumed (a running job finishes)."""
        with self._cond:
            entry = self._entry(name)
            if entry.state is ScheduleState.COMPLETED:
                raise ScheduleError(f"schedule {name!r} has completed", schedule=name)
            entry.state = ScheduleState.PAUSED
            self._changed()
            return entry.record()

    def resume(self, name: str) -> ScheduleRecord:
        """Fire `name` again; ticks missed meanwhile run once (or each once with catch-up)."""
        with self._cond:
            entry = self._entry(name)
            if entry.state is ScheduleState.COMPLETED:
                raise ScheduleError(
                    f"schedule {name!r} has completed ({entry.schedule.describe()})",
                    schedule=name)
            entry.state = ScheduleState.ACTIVE
            self._changed()
            self._ensure_thread()
            return entry.record()

    def remove(self, name: str) -> ScheduleRecord:
        """Forget `name`; a job of it still running finishes on its own."""
        with self._cond:
            entry = self._entry(name)
            del self._entries[name]
            self._changed()
            return entry.record()

    def get(self, name: str) -> ScheduleRecord:
        with self._cond:
            return self._entry(name).record()

    def list(self) -> list[ScheduleRecord]:
        with self._cond:
            return [entry.record() for entry in self._entries.values()]

    def __contains__(self, name: object) -> bool:
        with self._cond:
            return name in self._entries

    @property
    def running(self) -> bool:
        """Whether the scheduler thread is alive."""
        thread = self._thread
        return thread is not None and thread.is_alive() and not self._stopping

    def wait(self, name: str, runs: int = 1, timeout: float | None = None) -> list[JobOutcome]:
        """Block until `runs` more jobs of `name` finished; returns their outcomes.

        `timeout` is real seconds whatever the clock. Raises CtcdTimeoutError past it, and
        ScheduleError when the entry completes, stops or goes away first. Ctrl-C interrupts it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            entry = self._entry(name)
            start = entry.completions
            target = start + runs
            while entry.completions < target:
                done = entry.completions - start
                if self._entries.get(name) is not entry:
                    raise ScheduleError(f"schedule {name!r} was removed after {done} of {runs} "
                                        "runs", schedule=name)
                if (entry.state in (ScheduleState.COMPLETED, ScheduleState.STOPPED)
                        and not entry.busy() and not entry.pending and not entry.finishing):
                    raise ScheduleError(f"schedule {name!r} is {entry.state.value} after {done} "
                                        f"of {runs} runs", schedule=name)
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise CtcdTimeoutError(
                        f"schedule {name!r}: {done} of {runs} runs finished within {timeout:g} s"
                        f" (state {entry.state.value}, next fire "
                        f"{_clock_text(entry.next_fire, entry.schedule)})", timeout=timeout)
                self._cond.wait(remaining)
            return list(entry.outcomes)[-(entry.completions - start):][:runs]

    def wait_idle(self, timeout: float = 5.0, *, jobs: bool = True) -> None:
        """Block until nothing is due now and (with `jobs`) no job runs: for tests and scripts."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._idle(jobs):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CtcdTimeoutError(f"scheduler not idle within {timeout:g} s",
                                           timeout=timeout)
                self._cond.wait(remaining)

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop the thread (ACTIVE entries become STOPPED) and give running jobs until
        `timeout` to finish; returns whether everything ended. Jobs are never killed."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._stopping = True
            for entry in self._entries.values():
                if entry.state is ScheduleState.ACTIVE:
                    entry.state = ScheduleState.STOPPED
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._cond:  # jobs end on their own; give them what is left of the timeout
            while self._active_jobs and (remaining := deadline - time.monotonic()) > 0:
                self._cond.wait(remaining)
            ended = not self._active_jobs and not (thread is not None and thread.is_alive())
        self._workers.close()  # idle workers exit now, busy ones when their run ends
        return ended

    # -- the loop --------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive() and not self._stopping:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="ctcd-scheduler", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        with self._cond:
            while not self._stopping:
                try:
                    self._pass()
                except Exception:  # the thread must outlive any bug below it
                    log.exception("ctcd scheduler: unexpected error; going on")
                    self._sleeping = True
                    self._cond.notify_all()
                    self.clock.wait(self._cond, 1.0)
                    self._sleeping = False

    def _pass(self) -> None:
        """One look at every entry, then sleep until the earliest next fire (lock held)."""
        self._dirty = False
        now = self.clock.time()
        events: list[SchedulerEvent] = []
        for entry in list(self._entries.values()):
            try:
                self._service(entry, now, events)
            except Exception as exc:  # a broken schedule stops itself, not the others
                log.exception("ctcd scheduler: schedule %r failed", entry.name)
                entry.state = ScheduleState.STOPPED
                entry.last_error = f"scheduler error: {exc!r}"
        if events:
            self._cond.release()
            try:
                for event in events:
                    self._emit(event)
            finally:
                self._cond.acquire()
            return  # things may have changed while unlocked: look again
        if self._stopping or self._dirty:
            return
        fires = [e.next_fire for e in self._entries.values()
                 if e.state is ScheduleState.ACTIVE and e.next_fire is not None]
        timeout = None if not fires else min(fires) - self.clock.time()
        if timeout is not None and timeout <= 0:
            return
        self._sleeping = True
        self._cond.notify_all()  # wake wait_idle()
        try:
            self.clock.wait(self._cond, timeout)
        finally:
            self._sleeping = False

    def _service(self, entry: _Entry, now: float, events: list[SchedulerEvent]) -> None:
        if entry.state is not ScheduleState.ACTIVE:
            return
        sched, due = entry.schedule, entry.next_fire
        if due is not None and due <= now:
            if sched.catchup:
                room = max(0, self.max_catchup - len(entry.pending))
                ticks = sched.fires_between(due, now, room)
                entry.pending.extend(ticks)
                over = sched.count_fires(due, now) - len(ticks)
                self._skip(entry, ticks[-1] if ticks else due, over, "catch-up limit", events)
                entry.next_fire = sched.next_fire(now)
            else:
                tick = max(due, sched.previous_fire(now) or due)
                missed = sched.count_fires(due, tick) - 1
                if entry.busy():
                    # Ticks during a run are counted now and reported once, when the run ends:
                    # one SKIPPED record per busy period, however short the interval.
                    entry.counts["skipped"] += missed + 1
                    entry.busy_skips += missed + 1
                    entry.busy_tick = tick
                else:
                    self._skip(entry, tick, missed, "coalesced", events)
                    if self._full():
                        self._skip(entry, tick, 1, "max_workers", events)
                    else:
                        self._launch(entry, tick)
                entry.next_fire = sched.next_fire(tick)
        if entry.pending and not entry.busy() and not self._full():
            self._launch(entry, entry.pending.popleft())
        self._maybe_complete(entry, events)

    def _skip(self, entry: _Entry, tick: float, count: int, reason: str,
              events: list[SchedulerEvent]) -> None:
        if count > 0:
            entry.counts["skipped"] += count
            events.append(SchedulerEvent("skipped", entry.name, tick, self.clock.time(),
                                         count=count, reason=reason))

    def _maybe_complete(self, entry: _Entry, events: list[SchedulerEvent]) -> None:
        if (entry.state is ScheduleState.ACTIVE and entry.next_fire is None
                and not entry.pending and not entry.busy()):
            entry.state = ScheduleState.COMPLETED
            events.append(SchedulerEvent("completed", entry.name, entry.last_tick,
                                         self.clock.time()))

    def _full(self) -> bool:
        return self.max_workers is not None and self._active_jobs >= self.max_workers

    def _launch(self, entry: _Entry, tick: float) -> None:
        entry.running = True
        entry.last_tick = tick
        entry.counts["fired"] += 1
        self._active_jobs += 1
        self._workers.submit(self._work, entry, tick)

    def _work(self, entry: _Entry, tick: float) -> None:
        """On a worker thread: run the job, record the outcome, wake the loop and the waiters."""
        started = self.clock.time()
        thread = threading.current_thread()
        thread.name = f"ctcd-run-{entry.name}"
        self._emit(SchedulerEvent("fired", entry.name, tick, started))
        result: object = None
        error: BaseException | None = None
        skipped: SkipTick | None = None
        try:
            result = entry.job(tick)
        except SkipTick as exc:
            skipped = exc
        except BaseException as exc:
            error = exc
        finished = self.clock.time()
        outcome = JobOutcome(tick, started, finished, error is None, result, error)
        kind = "skipped" if skipped else "succeeded" if error is None else "failed"
        events = [SchedulerEvent(kind, entry.name, tick, finished, error=error, result=result,
                                 duration=finished - started,
                                 reason=str(skipped) if skipped else None)]
        with self._cond:
            entry.running = False
            self._active_jobs -= 1
            self._finishing += 1
            entry.finishing += 1
            entry.counts[kind] += 1
            entry.last_outcome = kind
            entry.last_error = None if error is None else f"{type(error).__name__}: {error}"
            entry.last_started, entry.last_finished = started, finished
            if entry.busy_skips:
                events.append(SchedulerEvent("skipped", entry.name, entry.busy_tick, finished,
                                             count=entry.busy_skips, reason="running"))
                entry.busy_skips, entry.busy_tick = 0, None
            thread.name = "ctcd-worker"
            if self._entries.get(entry.name) is entry:
                self._maybe_complete(entry, events)
            self._changed()
        try:
            for event in events:
                self._emit(event)
        finally:
            # Waiters return once the handlers have seen the outcome (records, panels), not
            # before: what wait() or wait_idle() returned to is then true everywhere.
            with self._cond:
                self._finishing -= 1
                entry.finishing -= 1
                if not skipped:  # a skipped tick is no run: wait() goes on waiting
                    entry.completions += 1
                    entry.outcomes.append(outcome)
                self._changed()

    def _emit(self, event: SchedulerEvent) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(event)
        except BaseException:  # a handler must never kill the scheduler
            log.exception("ctcd scheduler: on_event handler failed for %s", event.kind)

    # -- helpers ---------------------------------------------------------------------------
    def _changed(self) -> None:
        self._dirty = True
        self._cond.notify_all()

    def _idle(self, jobs: bool) -> bool:
        if jobs and (self._active_jobs or self._finishing):
            return False
        thread = self._thread
        if thread is None or not thread.is_alive():
            return True
        if self._dirty or not self._sleeping:
            return False
        now = self.clock.time()
        return not any(e.state is ScheduleState.ACTIVE and (
            (e.next_fire is not None and e.next_fire <= now) or (e.pending and not e.busy()))
            for e in self._entries.values())

    def _entry(self, name: str) -> _Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise ScheduleError(unknown_name("schedule", name, self._entries),
                                schedule=name) from None

    def __repr__(self) -> str:
        state = "running" if self.running else "idle"
        return f"<Scheduler {state}, {len(self._entries)} schedules, clock={self.clock!r}>"


def _clock_text(ts: float | None, schedule: Schedule) -> str:
    return schedule.format_time(ts)
