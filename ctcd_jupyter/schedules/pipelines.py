"""Continuous training: pipeline runs on schedules, in the kernel's scheduler thread.

Glues the generic `Scheduler` to the workspace: each tick runs the pipeline (never from the
cache, on a worker thread, printing only into the run's log), skipped ticks are recorded as
SKIPPED runs, and each schedule is stored as data so a new kernel can list and resume it.
"""

from __future__ import annotations

import atexit
import io
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..clock import Clock
from ..engine.capture import capture_thread
from ..engine.context import Context
from ..engine.executor import execute, new_run_id, resolve_externals
from ..engine.observers import Listeners
from ..engine.pipeline import Pipeline
from ..engine.run import Run, RunState, process_identity
from ..engine.run_store import owner_alive, save_run
from ..errors import (
    CtcdError,
    PipelineBusy,
    PipelineDefinitionError,
    ScheduleError,
    advice,
    unknown_name,
)
from .records import (
    ScheduleRecord,
    ScheduleState,
    delete_schedule_record,
    load_schedule_records,
    save_schedule_record,
)
from .scheduler import Scheduler, SchedulerEvent, SkipTick
from .trigger import Schedule

log = logging.getLogger(__name__)

PRUNE_EVERY = 10  # scheduled runs of one pipeline between two artifact prunes

__all__ = ["ScheduleInfo", "Scheduling"]


@dataclass(frozen=True)
class ScheduleInfo:
    """One line of the overview: a live entry of this kernel, or a stored one (`live=False`:
    from an earlier kernel, or another one, `owner` says which)."""

    record: ScheduleRecord
    params: Mapping[str, Any]
    live: bool
    owner: Mapping[str, float]
    last_run: Run | None

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def foreign_owner(self) -> bool:
        """Another live process (kernel) runs this schedule, active or paused there."""
        return (not self.live and self.record.state in (ScheduleState.ACTIVE, ScheduleState.PAUSED)
                and bool(self.owner) and self.owner.get("pid") != os.getpid()
                and owner_alive(self.owner))

    @property
    def owner_text(self) -> str:
        """"pid 4242 (churn.ipynb)": the kernel that owns the schedule, and its notebook."""
        where = f"pid {self.owner.get('pid', 0):.0f}"
        notebook = self.owner.get("notebook")
        return f"{where} ({notebook})" if notebook else where

    @property
    def status(self) -> str:
        if self.live:
            return self.record.state.value
        if self.foreign_owner:
            return f"{self.record.state.value} in {self.owner_text}"
        if self.record.state is ScheduleState.COMPLETED:
            return "COMPLETED"
        return "STOPPED (kernel restarted)"


class Scheduling:
    """The schedules of one workspace."""

    def __init__(self, workspace: Context, clock: Clock | None = None):
        self.workspace = workspace
        self.scheduler = Scheduler(clock or workspace.clock, on_event=self._on_event)
        self._params: dict[str, dict[str, Any]] = {}
        self._runs_since_prune: dict[str, int] = {}
        self._records = threading.RLock()  # a schedule's live entry and its stored record
        self._armed = False
        self._listeners = Listeners()

    def subscribe(self, callback: Callable[[SchedulerEvent], object]) -> None:
        """Call `callback(event)` after every scheduler event (on the scheduler's or a worker's
        thread). Held weakly: a closed widget does not stay alive for its subscription."""
        self._listeners.add(callback, weak=True)

    def _notify(self, event: SchedulerEvent) -> None:
        def failed(callback: Any, exc: Exception) -> None:
            # a listener must not break the scheduler, nor fail unseen
            log.error("ctcd: a schedule listener (%r) failed on %s %s; the others were still "
                      "told", callback, event.kind, event.name, exc_info=exc)

        self._listeners.each(lambda callback: callback(event), failed)

    def _arm(self) -> None:
        # Kernel shutdown runs atexit: stop the thread then (again after an unload/reload).
        if not self._armed:
            atexit.register(self.stop)
            self._armed = True

    # -- commands ----------------------------------------------------------------------------
    def add(self, pipeline: Pipeline, schedule: Schedule,
            params: Mapping[str, Any] | None = None) -> ScheduleRecord:
        """Run `pipeline` on `schedule` (replacing its earlier schedule, if any)."""
        if not isinstance(schedule, Schedule):
            raise ScheduleError(f"expected a ctcd.Schedule, got {type(schedule).__name__}")
        params = dict(params or {})
        graph = pipeline.graph()
        pipeline.check_params(params, graph)
        # Fail now, not at the first tick, when a name the steps read is missing.
        resolve_externals(pipeline, graph, params, self.workspace.user_namespace())
        self._refuse_foreign(pipeline.name)
        self._params[pipeline.name] = params
        self._arm()
        record = self.scheduler.add(pipeline.name, schedule, self._job(pipeline.name))
        self._save(pipeline.name)
        return record

    def pause(self, name: str) -> ScheduleRecord:
        self._require_live(name, "pause")
        record = self.scheduler.pause(name)
        self._save(name)
        self._notify(SchedulerEvent("paused", name, None, self.scheduler.clock.time()))
        return record

    def resume(self, name: str) -> ScheduleRecord:
        """Resume a paused schedule, or restore a stored one once its steps are loaded again."""
        self._arm()
        if name in self.scheduler:
            record = self.scheduler.resume(name)
            self._save(name)
            self._notify(SchedulerEvent("resumed", name, None, self.scheduler.clock.time()))
            return record
        stored = self._stored().get(name)
        if stored is None:
            raise ScheduleError(self._unknown(name), schedule=name)
        self._refuse_foreign(name)
        previous = self._record_of(name, stored)
        if previous.state is ScheduleState.COMPLETED:
            raise ScheduleError(f"schedule {name!r} has completed "
                                f"({previous.schedule.describe()})", schedule=name)
        pipeline = self._restore_pipeline(name, stored)
        self._params[name] = dict(stored.get("params") or {})
        counts = {k: getattr(previous, k) for k in ("fired", "skipped", "failed", "succeeded")}
        record = self.scheduler.add(name, previous.schedule, self._job(pipeline.name),
                                    last_tick=previous.last_tick, counts=counts)
        self._save(name)
        self._notify(SchedulerEvent("resumed", name, None, self.scheduler.clock.time()))
        return record

    def remove(self, name: str) -> None:
        self._refuse_foreign(name)
        with self._records:  # no late event of a run may store the record again
            live = name in self.scheduler
            if live:
                self.scheduler.remove(name)
            self._params.pop(name, None)
            deleted = delete_schedule_record(self.workspace.store, name)
        if not deleted and not live:
            raise ScheduleError(self._unknown(name), schedule=name)
        self._notify(SchedulerEvent("removed", name, None, self.scheduler.clock.time()))

    def wait(self, name: str, runs: int = 1, timeout: float | None = None) -> list[Run]:
        """Block until `runs` more runs of `name` finished; returns them (oldest first)."""
        self._require_live(name, "wait for")
        outcomes = self.scheduler.wait(name, runs=runs, timeout=timeout)
        found = []
        for outcome in outcomes:
            run = outcome.result if isinstance(outcome.result, Run) else None
            if run is None and isinstance(outcome.error, _RunFailed):
                run = outcome.error.run
            if run is not None:
                found.append(run)
        return found

    def next_fires(self, name: str, n: int = 5) -> list[float]:
        """The next `n` fire times (epoch seconds) of `name`, live or stored."""
        if name in self.scheduler:
            record = self.scheduler.get(name)
            first = record.next_fire
            if first is None:
                return []
            return [first, *record.schedule.next_fires(n - 1, first)][:n]
        return self.schedule_of(name).next_fires(n, self.scheduler.clock.time())

    def schedule_of(self, name: str) -> Schedule:
        if name in self.scheduler:
            return self.scheduler.get(name).schedule
        stored = self._stored().get(name)
        if stored is None:
            raise ScheduleError(self._unknown(name), schedule=name)
        return self._record_of(name, stored).schedule

    def overview(self) -> list[ScheduleInfo]:
        """Every schedule: this kernel's live ones, then stored ones from other kernels."""
        infos = []
        stored = self._stored()
        for record in self.scheduler.list():
            infos.append(ScheduleInfo(record, self._params.get(record.name, {}), True,
                                      _owner(), self._last_run(record.name)))
        live = {i.name for i in infos}
        for name, data in sorted(stored.items()):
            if name in live:
                continue
            try:
                record = ScheduleRecord.from_dict(data["record"])
            except (KeyError, ValueError, TypeError, AttributeError, CtcdError):
                continue  # an unreadable row must not hide the others
            infos.append(ScheduleInfo(record, data.get("params") or {}, False,
                                      data.get("owner") or {}, self._last_run(name)))
        return infos

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop the scheduler thread (unload, shutdown); stored schedules stay resumable."""
        atexit.unregister(self.stop)
        self._armed = False
        stopped = self.scheduler.stop(timeout)
        for record in self.scheduler.list():
            self._save(record.name)
        return stopped

    # -- the job -----------------------------------------------------------------------------
    def _job(self, name: str) -> Any:
        def job(tick: float) -> Run:
            return self._run(name, tick)

        return job

    def _run(self, name: str, tick: float) -> Run:
        # Stray output of the worker thread (warnings, library prints) also goes to the log.
        stray = io.StringIO()
        with capture_thread(stray):
            try:
                pipeline = self.workspace.get_pipeline(name)
                run = execute(pipeline, params=dict(self._params.get(name, {})), namespace=None,
                              cache=False, trigger="schedule", tick=tick, tee=False, wait=False)
            except PipelineBusy:
                # A manual run of the same pipeline is going: skip this tick, never queue it.
                raise SkipTick("manual run") from None
            except CtcdError as exc:  # e.g. a notebook variable a step reads was deleted
                run = Run(id=new_run_id(), pipeline=name, trigger="schedule", tick=tick,
                          status=RunState.FAILED, error=f"{type(exc).__name__}: {exc}\n",
                          started_at=self.workspace.now())
                run.finished_at = run.started_at
        if stray.getvalue():
            run.log += f"[scheduler]\n{stray.getvalue()}"
        save_run(self.workspace.store, run)
        self._maybe_prune(name)
        if run.status is RunState.FAILED:
            raise _RunFailed(run)
        return run

    def _maybe_prune(self, name: str) -> None:
        # Fresh data means fresh artifacts every tick: drop what only old runs reference.
        self._runs_since_prune[name] = self._runs_since_prune.get(name, 0) + 1
        if self._runs_since_prune[name] < PRUNE_EVERY:
            return
        self._runs_since_prune[name] = 0
        try:
            self.workspace.prune()
        except (OSError, sqlite3.Error) as exc:  # pruning is housekeeping: say so, go on
            log.warning("ctcd: pruning old artifacts of %s failed: %s", name, exc)

    def _on_event(self, event: SchedulerEvent) -> None:
        if event.kind == "skipped":
            note = (f"{event.count} tick(s) skipped: "
                    + {"running": "the previous run was still going",
                       "manual run": "a manual run of the pipeline was going",
                       "coalesced": "missed while paused or late; coalesced into one run",
                       "catch-up limit": "more missed ticks than the catch-up limit"}.get(
                           event.reason or "", event.reason or ""))
            save_run(self.workspace.store, self._skipped_run(event.name, event.tick, note))
        if event.kind in ("fired", "succeeded", "failed", "skipped", "completed"):
            self._save(event.name)
        self._notify(event)

    def _skipped_run(self, name: str, tick: float | None, why: str) -> Run:
        now = self.workspace.now()
        return Run(id=new_run_id(), pipeline=name, trigger="schedule", status=RunState.SKIPPED,
                   started_at=now, finished_at=now, tick=tick, log=why + "\n")

    # -- storage -----------------------------------------------------------------------------
    def _save(self, name: str) -> None:
        with self._records:
            if name not in self.scheduler:
                return
            record = self.scheduler.get(name)
            stored = self.workspace.stored_pipeline(name)
            data = {"record": record.to_dict(), "params": self._params.get(name, {}),
                    "pipeline": stored, "owner": _owner()}
            save_schedule_record(self.workspace.store, name, data)

    @staticmethod
    def _record_of(name: str, stored: Mapping[str, Any]) -> ScheduleRecord:
        try:
            return ScheduleRecord.from_dict(stored["record"])
        except (KeyError, ValueError, TypeError, AttributeError, CtcdError) as exc:
            raise ScheduleError(
                f"the stored schedule {name!r} is unreadable ({type(exc).__name__}: {exc}); "
                f"remove it ({_verb('remove', name)}) and schedule it again",
                schedule=name) from None

    def _stored(self) -> dict[str, dict]:
        return {row["name"]: row for row in load_schedule_records(self.workspace.store)}

    def _unknown(self, name: str) -> str:
        return unknown_name("schedule", name,
                            {r.name for r in self.scheduler.list()} | set(self._stored()))

    def _refuse_foreign(self, name: str) -> None:
        # Two kernels running one schedule would run the pipeline twice per tick; one answer
        # for every verb: act on it in the kernel that owns it.
        if name in self.scheduler:
            return
        for info in self.overview():
            if info.name == name and info.foreign_owner:
                raise ScheduleError(
                    f"schedule {name!r} is held by another live kernel ({info.owner_text}, "
                    f"{info.record.state.value} there); pause, resume or remove it in that "
                    f"kernel", schedule=name)

    def _require_live(self, name: str, verb: str) -> None:
        if name in self.scheduler:
            return
        self._refuse_foreign(name)
        if name in self._stored():
            raise ScheduleError(f"schedule {name!r} is not running in this kernel; resume it "
                                f"first: {_verb('resume', name)}", schedule=name)
        raise ScheduleError(f"cannot {verb} {name!r}: {self._unknown(name)}", schedule=name)

    def _restore_pipeline(self, name: str, stored: Mapping[str, Any]) -> Pipeline:
        if name in self.workspace.pipelines:
            return self.workspace.pipelines[name]
        definition = stored.get("pipeline") or {}
        step_names = [s["name"] for s in definition.get("steps", [])]
        missing = [s for s in step_names if s not in self.workspace.steps]
        if missing or not step_names:
            raise ScheduleError(
                f"schedule {name!r} runs steps that are not loaded in this kernel: "
                f"{', '.join(missing) or '(unknown)'}; define them ("
                + advice(python="ctcd.Step(NAME, source)", magic="run their %%step cells")
                + f") or pipeline {name!r} first, then resume", schedule=name)
        try:
            return Pipeline(name, step_names, workspace=self.workspace)
        except PipelineDefinitionError as exc:
            raise ScheduleError(f"schedule {name!r}: {exc}", schedule=name) from None

    def _last_run(self, name: str) -> Run | None:
        runs = [r for r in self.workspace.runs(name, limit=5) if r.status is not RunState.SKIPPED]
        return runs[0] if runs else None



def _verb(verb: str, name: str) -> str:
    """A schedule command in the syntax of the front end that is calling."""
    return advice(python=f"ctcd.get_workspace().scheduling.{verb}({name!r})",
                  magic=f"%schedule {verb} {name}",
                  rest=f"POST /ctcd/api/schedules/{name}/{verb}")


def _owner() -> dict[str, Any]:
    """This kernel, as other processes see it: pid, start time and, in a Jupyter kernel, the
    notebook it runs (jupyter_server sets JPY_SESSION_NAME to the notebook's path)."""
    owner: dict[str, Any] = dict(process_identity())
    notebook = os.environ.get("JPY_SESSION_NAME")
    if notebook:
        owner["notebook"] = os.path.basename(notebook)
    return owner


class _RunFailed(CtcdError):
    """Raised by a scheduled job so the scheduler counts the run as failed."""

    def __init__(self, run: Run):
        super().__init__(run.summary())
        self.run = run
