"""The workspace: the facade every front end acts on. A `Workspace` is the engine's `Context`
(state folder, store, artifacts, tracking, steps, pipelines, run observers) plus this process's
schedules and their scheduler thread.

`get_workspace()` is the process default, created on first use from `$CTCD_HOME`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .clock import Clock
from .engine.context import Context, default_context, set_default_context, set_default_factory
from .engine.pipeline import Pipeline
from .schedules.pipelines import Scheduling
from .schedules.records import ScheduleRecord
from .schedules.trigger import Schedule

__all__ = ["Workspace", "get_workspace", "set_workspace"]


class Workspace(Context):
    def __init__(self, home: str | os.PathLike | None = None, *,
                 namespace: Mapping[str, Any] | None = None, tracking: bool | None = None,
                 clock: Clock | None = None):
        super().__init__(home, namespace=namespace, tracking=tracking, clock=clock)
        self._scheduling: Scheduling | None = None

    # -- schedules ---------------------------------------------------------------------------
    def schedule(self, pipeline: Pipeline, schedule: Schedule,
                 params: Mapping | None = None) -> ScheduleRecord:
        return self.scheduling.add(pipeline, schedule, params=params)

    @property
    def scheduling(self) -> Scheduling:
        """This workspace's schedules and scheduler thread (created on first use, on the
        workspace's clock)."""
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
        super().close()


set_default_factory(Workspace)


def get_workspace() -> Workspace:
    """The process's default workspace, created on first use."""
    context = default_context()
    if not isinstance(context, Workspace):  # only Workspace sets itself as the default
        raise TypeError(f"the default context is a {type(context).__name__}, not a Workspace")
    return context


def set_workspace(workspace: Workspace | None) -> Workspace | None:
    """Replace the default workspace (None: create a fresh one on next use); returns the old."""
    old = set_default_context(workspace)
    return old if isinstance(old, Workspace) or old is None else None
