"""Run records: what one execution of a pipeline did, step by step, as stored in the state store
and shown by `%runs` / `ctcd.runs()`.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from enum import Enum
from html import escape
from typing import TYPE_CHECKING, Any

from .errors import StepError
from .store import Store

if TYPE_CHECKING:
    from .artifacts import ArtifactStore

__all__ = ["Run", "RunState", "StepRun", "StepState", "format_run", "format_runs", "load_run",
           "load_runs", "save_run"]


def process_identity() -> dict[str, float]:
    """{"pid", "started"} of this process, to tell it from a later one that reuses the pid."""
    return dict(_identity(os.getpid()))


@functools.lru_cache(maxsize=4)
def _identity(pid: int) -> tuple[tuple[str, float], ...]:
    import psutil

    return (("pid", pid), ("started", psutil.Process(pid).create_time()))


class RunState(str, Enum):
    """The life of a run.

    RUNNING   steps are executing.
    SUCCEEDED every step succeeded or was a cache hit.
    FAILED    a step raised, an input was missing or the run was interrupted; see `Run.error`.
    SKIPPED   a scheduled tick that did not run because the previous run was still going.
    """

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"

    def __str__(self) -> str:
        return self.value


class StepState(str, Enum):
    """PENDING → RUNNING → SUCCEEDED | FAILED; CACHED when outputs came from the artifact store;
    SKIPPED when an upstream step failed."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    CACHED = "CACHED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"

    def __str__(self) -> str:
        return self.value


@dataclass
class StepRun:
    name: str
    status: StepState = StepState.PENDING
    started: float | None = None
    finished: float | None = None
    fingerprint: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)  # output name -> artifact id
    log: str = ""
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    def to_dict(self) -> dict:
        return {"name": self.name, "status": self.status.value, "started": self.started,
                "finished": self.finished, "fingerprint": self.fingerprint,
                "outputs": self.outputs, "log": self.log, "error": self.error,
                "notes": self.notes, "metrics": self.metrics}

    @classmethod
    def from_dict(cls, data: Mapping) -> StepRun:
        return cls(name=data["name"], status=StepState(data["status"]),
                   started=data.get("started"), finished=data.get("finished"),
                   fingerprint=data.get("fingerprint"), outputs=dict(data.get("outputs") or {}),
                   log=data.get("log") or "", error=data.get("error"),
                   notes=list(data.get("notes") or []),
                   metrics=dict(data.get("metrics") or {}))


class RunOutputs(Mapping):
    """The outputs of a run's steps, loaded from the artifact store on first access."""

    def __init__(self, ids: dict[str, str], artifacts: ArtifactStore | None):
        self._ids = ids
        self._artifacts = artifacts
        self._values: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            aid = self._ids[name]
            if self._artifacts is None:
                raise KeyError(f"{name}: this run has no artifact store attached")
            self._values[name] = self._artifacts.get(aid)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return f"RunOutputs({', '.join(self._ids)})"


@dataclass
class Run:
    """One execution of a pipeline. `status` is a `RunState`; times are epoch seconds."""

    id: str
    pipeline: str
    trigger: str = "manual"
    status: RunState = RunState.RUNNING
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    steps: list[StepRun] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    log: str = ""
    error: str | None = None
    failed_step: str | None = None
    mlflow_run_id: str | None = None
    tick: float | None = None
    warnings: list[str] = field(default_factory=list)
    # Links to where else this run is known (e.g. prefect.flow_run_id, ctcd.where): also MLflow
    # tags of its MLflow run.
    tags: dict[str, str] = field(default_factory=dict)
    owner: dict[str, float] = field(default_factory=process_identity)  # pid + its start time
    _artifacts: ArtifactStore | None = field(default=None, repr=False, compare=False)
    _exception: BaseException | None = field(default=None, repr=False, compare=False)

    # -- what users read ---------------------------------------------------------------------
    @property
    def started(self) -> datetime:
        return datetime.fromtimestamp(self.started_at, tz=timezone.utc).astimezone()

    @property
    def finished(self) -> datetime | None:
        if self.finished_at is None:
            return None
        return datetime.fromtimestamp(self.finished_at, tz=timezone.utc).astimezone()

    @property
    def duration(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at

    @property
    def outputs(self) -> RunOutputs:
        ids: dict[str, str] = {}
        for step in self.steps:
            ids.update(step.outputs)
        return RunOutputs(ids, self._artifacts)

    def step(self, name: str) -> StepRun:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"run {self.id} has no step {name!r}; steps: "
                       f"{', '.join(s.name for s in self.steps)}")

    @property
    def ok(self) -> bool:
        return self.status is RunState.SUCCEEDED

    def raise_for_status(self) -> Run:
        """Raise `StepError` (chained to the step's own exception) unless the run succeeded."""
        if self.status is RunState.FAILED:
            first_line = (self.error or "failed").strip().splitlines()[-1]
            where = f" at step {self.failed_step!r}" if self.failed_step else ""
            error = StepError(f"run {self.id} of {self.pipeline!r} failed{where}: {first_line}",
                              step=self.failed_step, run_id=self.id, traceback=self.error)
            raise error from self._exception
        return self

    def summary(self) -> str:
        """One line: id, pipeline, status, steps (cached), duration, metrics."""
        counts = [s.status for s in self.steps]
        cached = counts.count(StepState.CACHED)
        parts = [f"run {self.id}", self.pipeline, self.status.value]
        if self.steps:
            parts.append(f"{len(self.steps)} steps" + (f" ({cached} cached)" if cached else ""))
        if self.duration is not None:
            parts.append(_format_seconds(self.duration))
        if self.metrics:
            parts.append(" ".join(f"{k}={_format_metric(v)}" for k, v in self.metrics.items()))
        if self.status is RunState.FAILED:
            last = (self.error or "").strip().splitlines()
            where = f"step {self.failed_step}: " if self.failed_step else ""
            parts.append(f"{where}{last[-1] if last else 'failed'}")
        return "  ".join(parts)

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.pipeline} {self.status.value}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(self.summary())

    def _repr_html_(self) -> str:
        """The run in a notebook: summary, then a row per step (status, time, notes)."""
        colors = {"SUCCEEDED": "#2e7d32", "CACHED": "#1565c0", "FAILED": "#c62828",
                  "SKIPPED": "#757575", "RUNNING": "#ef6c00", "PENDING": "#757575"}
        rows = []
        for step in self.steps:
            took = "" if step.duration is None else _format_seconds(step.duration)
            notes = "; ".join([*step.notes, *(f"{k}={_format_metric(v)}"
                                              for k, v in step.metrics.items())])
            rows.append(
                f"<tr><td>{escape(step.name)}</td><td style='color:"
                f"{colors.get(step.status.value, 'inherit')}'>{step.status.value}</td>"
                f"<td>{took}</td><td style='text-align:left'>{escape(notes)}</td></tr>")
        error = ""
        if self.error:
            error = f"<pre style='color:#c62828'>{escape(self.error.rstrip())}</pre>"
        return (f"<div><b>{escape(self.summary())}</b><table><tr><th>step</th><th>status</th>"
                f"<th>time</th><th>notes</th></tr>{''.join(rows)}</table>{error}</div>")

    # -- storage -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"id": self.id, "pipeline": self.pipeline, "trigger": self.trigger,
                "status": self.status.value, "started_at": self.started_at,
                "finished_at": self.finished_at, "params": self.params,
                "steps": [s.to_dict() for s in self.steps], "metrics": self.metrics,
                "log": self.log, "error": self.error, "failed_step": self.failed_step,
                "mlflow_run_id": self.mlflow_run_id, "tick": self.tick,
                "warnings": self.warnings, "owner": self.owner, "tags": self.tags}

    @classmethod
    def from_dict(cls, data: Mapping) -> Run:
        return cls(id=data["id"], pipeline=data["pipeline"], trigger=data.get("trigger", "manual"),
                   status=RunState(data["status"]), started_at=data["started_at"],
                   finished_at=data.get("finished_at"), params=dict(data.get("params") or {}),
                   steps=[StepRun.from_dict(s) for s in data.get("steps") or []],
                   metrics=dict(data.get("metrics") or {}), log=data.get("log") or "",
                   error=data.get("error"), failed_step=data.get("failed_step"),
                   mlflow_run_id=data.get("mlflow_run_id"), tick=data.get("tick"),
                   warnings=list(data.get("warnings") or []),
                   owner=dict(data.get("owner") or {}), tags=dict(data.get("tags") or {}))


def save_run(store: Store, run: Run) -> None:
    store.execute(
        "INSERT OR REPLACE INTO runs (id, pipeline, trigger, status, started, finished, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run.id, run.pipeline, run.trigger, run.status.value, run.started_at, run.finished_at,
         Store.dumps(run.to_dict())),
    )


def owner_alive(owner: Mapping[str, float]) -> bool:
    """Whether the process recorded in `owner` still runs (unknown owners count as alive)."""
    import psutil

    if not owner:
        return True
    try:
        return abs(psutil.Process(int(owner["pid"])).create_time() - owner["started"]) < 1.0
    except (psutil.NoSuchProcess, KeyError, ValueError):
        return False
    except psutil.Error:
        return True


def reap_orphaned_runs(store: Store) -> int:
    """Mark RUNNING runs whose process is gone (a kernel died mid-run) as FAILED; returns how
    many. Without this they would show as running forever and hold back artifact pruning."""
    reaped = 0
    for row in store.execute("SELECT data FROM runs WHERE status = 'RUNNING'"):
        try:
            run = Run.from_dict(Store.loads(row["data"]))
        except (ValueError, KeyError, TypeError):
            continue
        if owner_alive(run.owner):
            continue
        run.status = RunState.FAILED
        run.finished_at = run.finished_at or run.started_at
        run.error = (f"the process running this run (pid {run.owner.get('pid')}) exited "
                     "before it finished, e.g. the kernel was restarted or died\n")
        for step in run.steps:
            if step.status in (StepState.RUNNING, StepState.PENDING):
                step.status = StepState.FAILED if step.status is StepState.RUNNING \
                    else StepState.SKIPPED
        save_run(store, run)
        reaped += 1
    return reaped


def load_runs(store: Store, pipeline: str | None = None, limit: int | None = None,
              artifacts: ArtifactStore | None = None) -> list[Run]:
    """Runs, newest first. Rows that do not parse are left out, not fatal."""
    sql = "SELECT data FROM runs"
    args: tuple = ()
    if pipeline is not None:
        sql += " WHERE pipeline = ?"
        args = (pipeline,)
    sql += " ORDER BY started DESC, rowid DESC"
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    runs = []
    for row in store.execute(sql, args):
        try:
            run = Run.from_dict(Store.loads(row["data"]))
        except (ValueError, KeyError, TypeError):
            continue
        run._artifacts = artifacts
        runs.append(run)
    return runs


def load_run(store: Store, run_id: str, artifacts: ArtifactStore | None = None) -> Run | None:
    rows = store.execute("SELECT data FROM runs WHERE id = ? OR id LIKE ?", (run_id, run_id + "%"))
    if len(rows) != 1:
        return None
    run = Run.from_dict(Store.loads(rows[0]["data"]))
    run._artifacts = artifacts
    return run


def format_runs(runs: list[Run]) -> str:
    """The `%runs` table; the last column holds the metrics, or why a run failed or skipped."""
    if not runs:
        return "no runs yet"
    rows = [("id", "pipeline", "trigger", "status", "started", "duration", "metrics / note")]
    for run in runs:
        duration = "-" if run.duration is None else f"{run.duration:.2f}s"
        rows.append((run.id, run.pipeline, run.trigger, run.status.value,
                     run.started.strftime("%Y-%m-%d %H:%M:%S"), duration, run_note(run)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False))
                      + "  " + r[-1]).rstrip() for r in rows)


def run_note(run: Run) -> str:
    note = " ".join(f"{k}={_format_metric(v)}" for k, v in run.metrics.items())
    if run.status is RunState.FAILED:
        last = (run.error or "failed").strip().splitlines()[-1]
        where = f"{run.failed_step}: " if run.failed_step else ""
        note = (note + "  " if note else "") + _shorten(where + last, 80)
    elif run.status is RunState.SKIPPED and run.log:
        note = _shorten(run.log.strip().splitlines()[0], 80)
    return note


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_run(run: Run) -> str:
    """A run in full: summary, steps with status, duration and notes, error, log."""
    lines = [run.summary(), f"started {run.started:%Y-%m-%d %H:%M:%S}  trigger {run.trigger}"
             + (f"  params {run.params}" if run.params else "")]
    for step in run.steps:
        took = "" if step.duration is None else f"  {_format_seconds(step.duration)}"
        lines.append(f"  {step.name:<20} {step.status.value:<9}{took}")
        lines += [f"      {note}" for note in step.notes]
    lines += [f"tag {k}: {v}" for k, v in run.tags.items()]
    lines += [f"warning: {w}" for w in run.warnings]
    if run.error:
        lines += ["error:", run.error.rstrip()]
    if run.log:
        lines += ["log:", run.log.rstrip()]
    return "\n".join(lines)


def _format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.2f}s"
    return f"{seconds / 60:.1f}m"


def _format_metric(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
