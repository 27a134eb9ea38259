"""The run model: what one execution of a pipeline did, step by step (`Run`, `StepRun` and their
documented states). Storing them is `run_store`'s job, showing them `views.runs`'.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..enums import StrEnum
from ..errors import StepError, unknown_name
from ..identity import current
from ..views import runs as run_views
from ..views.format import duration as _duration
from ..views.format import metric as _metric

if TYPE_CHECKING:
    from .artifacts import ArtifactStore

__all__ = ["Run", "RunOutputs", "RunState", "StepRun", "StepState", "process_identity"]


def process_identity() -> dict[str, Any]:
    """This process as a run's owner: its identity (`ctcd_jupyter.identity`), to tell it from a
    later process that reuses the pid."""
    return current().to_dict()


class RunState(StrEnum):
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


class StepState(StrEnum):
    """PENDING → RUNNING → SUCCEEDED | FAILED; CACHED when outputs came from the artifact store;
    SKIPPED when an upstream step failed."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    CACHED = "CACHED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"


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
    # what the run read from the notebook: name -> {"kind", "repr", "hash"} (see
    # engine.fingerprint.read_record); parameters are in `params`
    namespace: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: list[StepRun] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    log: str = ""
    error: str | None = None
    failed_step: str | None = None
    mlflow_run_id: str | None = None
    tick: float | None = None
    warnings: list[str] = field(default_factory=list)
    # what a deployment in this run decided (the deployer's record as data: model_name,
    # outcome, version, champion_version, metric, value, champion_value, reason)
    deployment: dict[str, Any] | None = None
    # Links to where else this run is known (e.g. prefect.flow_run_id, ctcd.where): also MLflow
    # tags of its MLflow run.
    tags: dict[str, str] = field(default_factory=dict)
    owner: dict[str, Any] = field(default_factory=process_identity)  # who runs it
    _artifacts: ArtifactStore | None = field(default=None, repr=False, compare=False)
    _exception: BaseException | None = field(default=None, repr=False, compare=False)
    # every logged metric value (name, value, ms timestamp, step) for MLflow, not stored
    _history: list[tuple[str, float, int, int]] = field(default_factory=list, repr=False,
                                                        compare=False)

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
        raise KeyError(f"run {self.id}: "
                       + unknown_name("step", name, (s.name for s in self.steps)))

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

    def note_deployment(self, decision: Mapping[str, Any]) -> None:
        """Record what a deployment in this run decided (the deployer calls this with its
        record as a dict); the run's note (`%runs`, RunsView, `ctcd runs`) shows it."""
        self.deployment = {k: v for k, v in dict(decision).items()
                           if isinstance(v, (str, int, float, bool, type(None)))}

    def summary(self) -> str:
        """One line: id, pipeline, status, steps (cached), duration, metrics."""
        counts = [s.status for s in self.steps]
        cached = counts.count(StepState.CACHED)
        parts = [f"run {self.id}", self.pipeline, self.status.value]
        if self.steps:
            parts.append(f"{len(self.steps)} steps" + (f" ({cached} cached)" if cached else ""))
        if self.duration is not None:
            parts.append(_duration(self.duration, compact=True))
        if self.metrics:
            parts.append(" ".join(f"{k}={_metric(v)}" for k, v in self.metrics.items()))
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
        return run_views.run_html(self)

    # -- storage -----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"id": self.id, "pipeline": self.pipeline, "trigger": self.trigger,
                "status": self.status.value, "started_at": self.started_at,
                "finished_at": self.finished_at, "params": self.params,
                "namespace": self.namespace, "steps": [s.to_dict() for s in self.steps],
                "metrics": self.metrics,
                "log": self.log, "error": self.error, "failed_step": self.failed_step,
                "mlflow_run_id": self.mlflow_run_id, "tick": self.tick,
                "warnings": self.warnings, "owner": self.owner,
                "deployment": self.deployment, "tags": self.tags}

    @classmethod
    def from_dict(cls, data: Mapping) -> Run:
        return cls(id=data["id"], pipeline=data["pipeline"], trigger=data.get("trigger", "manual"),
                   status=RunState(data["status"]), started_at=data["started_at"],
                   finished_at=data.get("finished_at"), params=dict(data.get("params") or {}),
                   namespace=dict(data.get("namespace") or {}),
                   steps=[StepRun.from_dict(s) for s in data.get("steps") or []],
                   metrics=dict(data.get("metrics") or {}), log=data.get("log") or "",
                   error=data.get("error"), failed_step=data.get("failed_step"),
                   mlflow_run_id=data.get("mlflow_run_id"), tick=data.get("tick"),
                   warnings=list(data.get("warnings") or []),
                   owner=dict(data.get("owner") or {}),
                   deployment=data.get("deployment") or None, tags=dict(data.get("tags") or {}))


