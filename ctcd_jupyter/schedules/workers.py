"""Warm worker threads for scheduled runs: handing a run to a waiting thread costs one wake-up,
while starting a thread costs several GIL hand-offs when a user's cell keeps the GIL busy."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

__all__ = ["Workers"]

_STOP = object()


class Workers:
    """Daemon threads kept warm for runs. A thread idle for `idle_timeout` seconds exits, and
    `close()` makes every idle one exit now (`%unload_ext` leaves no thread behind)."""

    def __init__(self, idle_timeout: float = 30.0):
        self.idle_timeout = idle_timeout
        self._tasks: queue.SimpleQueue[tuple[Callable[..., object], tuple]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # waiting threads minus tasks queued for them
        self._closed = False

    def submit(self, fn: Callable[..., object], *args: object) -> None:
        with self._lock:
            self._closed = False
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1
        self._tasks.put((fn, args))
        if spawn:
            threading.Thread(target=self._serve, name="ctcd-worker", daemon=True).start()

    def close(self) -> None:
        """Tell every idle thread to exit; a busy one exits when its run ends."""
        with self._lock:
            idle, self._idle = self._idle, 0
            self._closed = True
        for _ in range(idle):
            self._tasks.put((_STOP, ()))

    def _serve(self) -> None:
        while True:
            try:
                fn, args = self._tasks.get(timeout=self.idle_timeout)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # a spare thread: nobody counts on this one
                        self._idle -= 1
                        return
                continue
            if fn is _STOP:
                return
            fn(*args)
            with self._lock:
                if self._closed:
                    return
                self._idle += 1
