"""The context a run needs: the state folder with its store, artifacts and tracker, a clock, the
notebook's namespace, run locks, the steps and pipelines defined in this process, and the run
observers. `Workspace` (the facade above) is a Context that also owns the schedules.

The run executing on this thread is in a ContextVar (`current_run()`, `current_context()`).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..clock import Clock, SystemClock
from ..errors import CtcdError, PipelineDefinitionError, unknown_name
from ..state import Store, state_home
from .artifacts import ArtifactStore
from .observers import Observers
from .retention import PruneReport, prune
from .run_store import load_run, load_runs, reap_orphaned_runs
from .steps import Step
from .tracking import Tracker, TrackingObserver

if TYPE_CHECKING:
    from .pipeline import Pipeline
    from .run import Run, StepRun

__all__ = ["Context", "Scheduled", "current_context", "current_run", "current_step",
           "default_context", "in_step", "running", "set_default_context", "set_default_factory"]


class Scheduled(Protocol):
    """What putting a pipeline on a schedule returns (a `schedules.records.ScheduleRecord`):
    the engine, below the schedules, knows it by this shape."""

    @property
    def name(self) -> str: ...

    @property
    def next_fire(self) -> float | None: ...


def _tracking_default() -> bool:
    return os.environ.get("CTCD_TRACKING", "1").strip().lower() not in {"0", "off", "false", "no"}


class Context:
    """Everything the engine reads and writes, passed in rather than reached for."""

    def __init__(self, home: str | os.PathLike | None = None, *,
                 namespace: Mapping[str, Any] | None = None, tracking: bool | None = None,
                 clock: Clock | None = None):
        self.home: Path = state_home(home)
        self.store = Store.shared(self.home)  # one connection per folder and process
        self.artifacts = ArtifactStore(self.home / "artifacts")
        self.namespace = namespace
        self.tracking = _tracking_default() if tracking is None else tracking
        self.clock: Clock = clock or SystemClock()
        self.steps: dict[str, Step] = {}
        self.pipelines: dict[str, Pipeline] = {}
        self.observers = Observers()
        self.observers.add(TrackingObserver(lambda: self.tracker))
        self._tracker: Tracker | None = None
        self._lock = threading.RLock()
        self._run_locks: dict[str, threading.Lock] = {}

    def now(self) -> float:
        return self.clock.time()

    def user_namespace(self) -> Mapping[str, Any]:
        """Where names no step produces come from: the notebook's namespace once the extension
        is loaded, else the running script's globals (`__main__`)."""
        if self.namespace is not None:
            return self.namespace
        import __main__

        return vars(__main__)

    # -- steps and pipelines -----------------------------------------------------------------
    def add_step(self, step: Step) -> Step:
        with self._lock:
            self.steps[step.name] = step
            for pipeline in self.pipelines.values():
                if step.name in pipeline.step_names:
                    self._save_pipeline(pipeline)
        return step

    def get_step(self, name: str) -> Step:
        try:
            return self.steps[name]
        except KeyError:
            raise PipelineDefinitionError(unknown_name("step", name, self.steps)) from None

    def add_pipeline(self, pipeline: Pipeline) -> Pipeline:
        with self._lock:
            self.pipelines[pipeline.name] = pipeline
            self._save_pipeline(pipeline)
        return pipeline

    def _save_pipeline(self, pipeline: Pipeline) -> None:
        try:
            data = pipeline.to_dict()
        except PipelineDefinitionError:
            return  # a step it names is gone; the stored definition stays as it was
        self.store.execute(
            "INSERT OR REPLACE INTO pipelines (name, data, updated) VALUES (?, ?, ?)",
            (pipeline.name, Store.dumps(data), time.time()))

    def get_pipeline(self, name: str) -> Pipeline:
        try:
            return self.pipelines[name]
        except KeyError:
            raise PipelineDefinitionError(unknown_name("pipeline", name, self.pipelines),
                                          pipeline=name) from None

    def stored_pipeline(self, name: str) -> dict | None:
        """A pipeline's stored definition (with step sources), e.g. from an earlier kernel."""
        rows = self.store.execute("SELECT data FROM pipelines WHERE name = ?", (name,))
        if not rows:
            return None
        try:
            data = Store.loads(rows[0]["data"])
        except ValueError:
            return None  # unreadable: as if it had not been stored
        return data if isinstance(data, dict) else None

    # -- runs --------------------------------------------------------------------------------
    def run_lock(self, pipeline: str) -> threading.Lock:
        """Held while `pipeline` runs: runs of one pipeline never overlap in this process."""
        with self._lock:
            return self._run_locks.setdefault(pipeline, threading.Lock())

    def runs(self, pipeline: str | None = None, limit: int | None = None) -> list[Run]:
        """Runs, newest first; runs whose process died mid-run are marked FAILED first."""
        reap_orphaned_runs(self.store)
        return load_runs(self.store, pipeline, limit, artifacts=self.artifacts)

    def get_run(self, run_id: str) -> Run | None:
        return load_run(self.store, run_id, artifacts=self.artifacts)

    def prune(self, keep_runs: int | None = None, *, min_age: float = 300.0) -> PruneReport:
        """Delete step outputs only old runs reference (see `ctcd_jupyter.engine.retention`)."""
        return prune(self, keep_runs, min_age=min_age)

    @property
    def tracker(self) -> Tracker | None:
        if not self.tracking:
            return None
        with self._lock:
            if self._tracker is None:
                self._tracker = Tracker(self.home)
            return self._tracker

    # -- what only the facade above can do ---------------------------------------------------
    def schedule(self, pipeline: Pipeline, schedule: Any,
                 params: Mapping | None = None) -> Scheduled:
        raise CtcdError("scheduling needs a ctcd.Workspace (the engine's Context runs pipelines "
                        "but has no scheduler); use ctcd.Workspace(home=...)")

    def close(self) -> None:
        self.store.release()


# -- the process default and the run on this thread ------------------------------------------
_default: Context | None = None
_default_lock = threading.Lock()
_factory: Callable[[], Context] = Context
_run: ContextVar[tuple[Run, Context] | None] = ContextVar("ctcd_run", default=None)
_step: ContextVar[StepRun | None] = ContextVar("ctcd_step", default=None)


def set_default_factory(factory: Callable[[], Context]) -> None:
    """What `default_context()` creates on first use (ctcd_jupyter.workspace: a Workspace)."""
    global _factory
    _factory = factory


def default_context() -> Context:
    """The process's default context, created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = _factory()
        return _default


def set_default_context(context: Context | None) -> Context | None:
    """Replace the default (None: create a fresh one on next use); returns the old one."""
    global _default
    with _default_lock:
        old, _default = _default, context
        return old


def current_run() -> Run | None:
    """The run executing on this thread, if any (inside a step)."""
    active = _run.get()
    return None if active is None else active[0]


def current_step() -> StepRun | None:
    """The step record executing on this thread, if any."""
    return _step.get()


@contextmanager
def running(run: Run, context: Context) -> Iterator[None]:
    """Make `run` (of `context`) the current run of this thread while the block runs."""
    token = _run.set((run, context))
    try:
        yield
    finally:
        _run.reset(token)


@contextmanager
def in_step(step: StepRun) -> Iterator[None]:
    token = _step.set(step)
    try:
        yield
    finally:
        _step.reset(token)


def current_context() -> Context:
    """The context of the run executing on this thread, else the process default."""
    active = _run.get()
    return default_context() if active is None else active[1]
