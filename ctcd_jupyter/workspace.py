"""The workspace: one process's steps, pipelines and state folder (store, artifacts, tracking).

Front ends (magics, widgets, plain Python) all act on a workspace; `get_workspace()` is the
process default, created on first use from `$CTCD_HOME`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifacts import ArtifactStore
from .errors import PipelineDefinitionError, did_you_mean
from .runs import Run, load_run, load_runs, reap_orphaned_runs
from .state import state_home
from .steps import Step
from .store import Store

if TYPE_CHECKING:
    from .pipeline import Pipeline
    from .scheduling import Scheduling
    from .tracking import Tracker

__all__ = ["Workspace", "get_workspace", "set_workspace"]


def _tracking_default() -> bool:
    return os.environ.get("CTCD_TRACKING", "1").strip().lower() not in {"0", "off", "false", "no"}


class Workspace:
    def __init__(self, home: str | os.PathLike | None = None, *,
                 namespace: Mapping[str, Any] | None = None, tracking: bool | None = None,
                 clock: Callable[[], float] = time.time):
        self.home: Path = state_home(home)
        self.store = Store(self.home)
        self.artifacts = ArtifactStore(self.home / "artifacts")
        self.namespace = namespace
        self.tracking = _tracking_default() if tracking is None else tracking
        self.clock = clock
        self.steps: dict[str, Step] = {}
        self.pipelines: dict[str, Pipeline] = {}
        self._tracker: Tracker | None = None
        self._lock = threading.RLock()
        self._run_locks: dict[str, threading.Lock] = {}
        self._scheduling: Any = None

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
            raise PipelineDefinitionError(
                f"no step named {name!r}; known steps: {', '.join(sorted(self.steps)) or 'none'}"
            ) from None

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
            raise PipelineDefinitionError(
                f"no pipeline named {name!r}{did_you_mean(name, self.pipelines)}; defined: "
                f"{', '.join(sorted(self.pipelines)) or 'none'}", pipeline=name) from None

    def stored_pipeline(self, name: str) -> dict | None:
        """A pipeline's stored definition (with step sources), e.g. from an earlier kernel."""
        rows = self.store.execute("SELECT data FROM pipelines WHERE name = ?", (name,))
        return Store.loads(rows[0]["data"]) if rows else None

    # -- runs --------------------------------------------------------------------------------
    def run_lock(self, pipeline: str) -> threading.Lock:
        """Held while `pipeline` runs: runs of one pipeline never overlap in this process."""
        with self._lock:
            return self._run_locks.setdefault(pipeline, threading.Lock())

    def runs(self, pipeline: str | None = None, limit: int | None = None, *,
             include_remote: bool = False) -> list[Run]:
        """Runs, newest first; runs whose process died mid-run are marked FAILED first.
        `include_remote`: also the runs the MLflow tracking server knows from elsewhere
        (their trigger says where, e.g. `prefect@worker-2`; see ctcd_jupyter.remote)."""
        reap_orphaned_runs(self.store)
        runs = load_runs(self.store, pipeline, limit, artifacts=self.artifacts)
        if include_remote:
            from .remote import with_remote_runs

            runs = with_remote_runs(self, runs, pipeline, limit)
        return runs

    def get_run(self, run_id: str) -> Run | None:
        return load_run(self.store, run_id, artifacts=self.artifacts)

    def prune(self, keep_runs: int | None = None, *, min_age: float = 300.0) -> Any:
        """Delete step outputs only old runs reference (see `ctcd_jupyter.retention`)."""
        from .retention import prune

        return prune(self, keep_runs, min_age=min_age)

    @property
    def tracker(self) -> Tracker | None:
        if not self.tracking:
            return None
        with self._lock:
            if self._tracker is None:
                from .tracking import Tracker

                self._tracker = Tracker(self.home)
            return self._tracker

    # -- schedules (ctcd_jupyter.scheduling) --------------------------------------------------
    def schedule(self, pipeline: Pipeline, schedule: Any, params: Mapping | None = None) -> Any:
        return self.scheduling.add(pipeline, schedule, params=params)

    @property
    def scheduling(self) -> Scheduling:
        """This workspace's schedules and scheduler thread (created on first use)."""
        from .scheduling import Scheduling

        with self._lock:
            if self._scheduling is None:
                self._scheduling = Scheduling(self)
            return self._scheduling

    def stop_scheduling(self) -> None:
        """Stop the scheduler thread, if one was started; schedules stay stored and resumable."""
        if self._scheduling is not None:
            self._scheduling.stop()

    def close(self) -> None:
        """Stop the scheduler (if any) and close the store."""
        self.stop_scheduling()
        self._scheduling = None
        self.store.close()


_default: Workspace | None = None
_default_lock = threading.Lock()


def get_workspace() -> Workspace:
    """The process's default workspace, created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Workspace()
        return _default


def set_workspace(workspace: Workspace | None) -> Workspace | None:
    """Replace the default workspace (None: create a fresh one on next use); returns the old."""
    global _default
    with _default_lock:
        old, _default = _default, workspace
        return old
