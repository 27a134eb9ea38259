"""Run observers: what is told about a run as it happens (papermill's hook vocabulary).

The executor calls every observer of the run's context at run start, step start, step end and
run end, for manual and scheduled runs alike. MLflow tracking is one; widgets are others.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .run import Run, StepRun

__all__ = ["HOOKS", "Observers", "RunObserver"]

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


class Observers:
    """A context's observers, called in the order they were added. An observer that raises
    never breaks the run: its error becomes a warning on the run, and the others still run.
    `weak=True` holds an observer weakly (a closed widget does not stay alive for it)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Callable[[], RunObserver | None]] = []

    def add(self, observer: RunObserver, *, weak: bool = False) -> RunObserver:
        ref: Callable[[], RunObserver | None] = (
            weakref.ref(observer) if weak else (lambda: observer))
        with self._lock:
            self._items.append(ref)
        return observer

    def remove(self, observer: RunObserver) -> None:
        with self._lock:
            self._items = [r for r in self._items if r() not in (None, observer)]

    def __len__(self) -> int:
        return len(self._live())

    def _live(self) -> list[RunObserver]:
        with self._lock:
            self._items = [r for r in self._items if r() is not None]
            return [o for o in (r() for r in self._items) if o is not None]

    def emit(self, hook: str, run: Run, *args: Any) -> None:
        if hook not in HOOKS:
            raise ValueError(f"unknown run hook {hook!r}; hooks: {', '.join(HOOKS)}")
        for observer in self._live():
            try:
                getattr(observer, hook)(run, *args)
            except Exception as exc:  # an observer is told, it does not decide the run
                run.warnings.append(f"{type(observer).__name__}.{hook} failed: "
                                    f"{type(exc).__name__}: {exc}")
