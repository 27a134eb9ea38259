"""Run observers: what is told about a run as it happens (papermill's hook vocabulary).

The executor calls every observer of the run's context at run start, step start, step end and
run end, for manual and scheduled runs alike. MLflow tracking is one; widgets are others.
"""

from __future__ import annotations

import inspect
import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import unknown_name

if TYPE_CHECKING:
    from .run import Run, StepRun

__all__ = ["HOOKS", "Listeners", "Observers", "RunObserver"]

HOOKS = ("run_start", "step_start", "step_end", "run_end")


class RunObserver:
    """Override the hooks you need. `run_end` is called once the run is final and stored; what
    an observer adds to `run.warnings` there is stored too."""

    def run_start(self, run: Run) -> None:
        """The run is recorded as RUNNING; no step has started."""

    def step_start(self, run: Run, step: StepRun) -> None:
        """`step` is about to run (or be looked up in the cache)."""

    def step_end(self, run: Run, step: StepRun) -> None:
        """`step` ended: SUCCEEDED, CACHED or FAILED."""

    def run_end(self, run: Run) -> None:
        """The run ended (SUCCEEDED or FAILED) and is stored."""


class Listeners:
    """The one dispatcher of the package: callables or objects told about something, in the
    order they were added. `weak=True` holds one weakly (a closed widget does not stay alive
    for its subscription; a bound method is held through its object). A listener that raises
    never stops the others: `each` hands its error to `on_error`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Callable[[], Any]] = []

    def add(self, listener: Any, *, weak: bool = False) -> Any:
        ref: Callable[[], Any]
        if not weak:
            ref = lambda: listener  # noqa: E731 - a strong "reference" with weakref's call shape
        elif inspect.ismethod(listener):
            ref = weakref.WeakMethod(listener)
        else:
            ref = weakref.ref(listener)
        with self._lock:
            self._items.append(ref)
        return listener

    def remove(self, listener: Any) -> None:
        with self._lock:
            self._items = [r for r in self._items if r() is not None and r() != listener]

    def live(self) -> list[Any]:
        with self._lock:
            self._items = [r for r in self._items if r() is not None]
            return [x for x in (r() for r in self._items) if x is not None]

    def __len__(self) -> int:
        return len(self.live())

    def each(self, call: Callable[[Any], object],
             on_error: Callable[[Any, Exception], object]) -> None:
        for listener in self.live():
            try:
                call(listener)
            except Exception as exc:  # a listener is told, it does not decide what happens
                on_error(listener, exc)


class Observers:
    """A context's run observers, called in the order they were added. An observer that raises
    never breaks the run: its error becomes a warning on the run, and the others still run.
    `weak=True` holds an observer weakly (a closed widget does not stay alive for it)."""

    def __init__(self) -> None:
        self._listeners = Listeners()

    def add(self, observer: RunObserver, *, weak: bool = False) -> RunObserver:
        return self._listeners.add(observer, weak=weak)

    def remove(self, observer: RunObserver) -> None:
        self._listeners.remove(observer)

    def __len__(self) -> int:
        return len(self._listeners)

    def emit(self, hook: str, run: Run, *args: Any) -> None:
        if hook not in HOOKS:
            raise ValueError(unknown_name("run hook", hook, HOOKS))

        def warn(observer: RunObserver, exc: Exception) -> None:
            run.warnings.append(f"{type(observer).__name__}.{hook} failed: "
                                f"{type(exc).__name__}: {exc}")

        self._listeners.each(lambda observer: getattr(observer, hook)(run, *args), warn)
