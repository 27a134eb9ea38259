"""Time, in one place. A `Clock` tells the time (epoch seconds) and sleeps on a condition until a
deadline or a wake-up: the engine stamps runs with it and the scheduler fires on it (the system
clock, or a fake one that tests move by hand). `Monotonic` is what deadlines are measured with
(`time.monotonic`): services wait on it, and it never jumps.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FakeClock", "Monotonic", "SystemClock"]

Monotonic = Callable[[], float]  # seconds that never jump: time.monotonic, or a test's own


@runtime_checkable
class Clock(Protocol):
    """What the scheduler needs from time."""

    def time(self) -> float:
        """Now, in epoch seconds."""

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        """Sleep on `cond` (held by the caller) for up to `timeout` seconds of this clock."""

    def subscribe(self, cond: threading.Condition) -> None:
        """Notify `cond` whenever this clock's time changes other than by flowing."""


class SystemClock:
    """Wall-clock time; sleeps on the condition with a monotonic timeout.

    A monotonic sleep does not notice wall-clock jumps or a suspended laptop, so one sleep is
    capped at `max_sleep` seconds: after a jump the scheduler is at most that late. It costs one
    wake-up a minute, nothing like a polling loop.
    """

    def __init__(self, max_sleep: float = 60.0):
        self.max_sleep = max_sleep

    def time(self) -> float:
        return time.time()

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        cond.wait(self.max_sleep if timeout is None else min(timeout, self.max_sleep))

    def subscribe(self, cond: threading.Condition) -> None:
        return None  # real time flows; nobody sets it

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """A clock that stands still until `advance`/`set`, which wake every subscribed sleeper.

    Sleeps never time out on their own, so a test drives the scheduler tick by tick, in
    milliseconds and without sleeps.
    """

    def __init__(self, start: float = 1_000_000.0):
        self._now = float(start)
        self._lock = threading.Lock()
        self._conds: weakref.WeakSet[threading.Condition] = weakref.WeakSet()

    def time(self) -> float:
        with self._lock:
            return self._now

    def wait(self, cond: threading.Condition, timeout: float | None) -> None:
        # fake time only moves by set(), which notifies cond; subscribe() made that race-free
        self.subscribe(cond)
        if timeout is None or timeout > 0:
            cond.wait()

    def subscribe(self, cond: threading.Condition) -> None:
        with self._lock:
            self._conds.add(cond)

    def advance(self, seconds: float) -> float:
        """Move time forward (or back, with a negative value); returns the new time."""
        with self._lock:
            target = self._now + seconds
        return self.set(target)

    def set(self, t: float) -> float:
        """Jump to epoch time `t` and wake the sleepers so they look at the clock again."""
        with self._lock:
            self._now = float(t)
            conds = list(self._conds)
        for cond in conds:
            with cond:
                cond.notify_all()
        return float(t)

    def __repr__(self) -> str:
        return f"FakeClock({self._now!r})"
