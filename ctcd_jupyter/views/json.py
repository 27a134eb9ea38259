"""One JSON shape per object: what `ctcd ... --json` prints and the REST API answers (and so what
the side panel reads). Fields are added, never renamed; `tone` is the status colour's name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..model_server import redact
from .format import tone
from .history import history_rows
from .runs import run_note
from .schedules import shown_next_fire
from .services import service_label

__all__ = ["deployment_json", "info_json", "run_json", "schedule_json", "service_json"]

# The tone of a deployment decision, for the side panel's colours.
OUTCOME_TONES = {"deployed": "success", "kept": "muted", "failed": "error",
                 "rolled back": "warn", "rolled_back": "warn", "followed": "info"}


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _value(state: Any) -> str:
    return str(getattr(state, "value", state))


def run_json(run: Any, *, detail: bool = False,
             deployments: Iterable[Any] = ()) -> dict[str, Any]:
    """One JSON shape for a run, used by `ctcd runs --json` and `GET /ctcd/api/runs`. Every
    shape has the steps' status; `detail` adds their times, notes, errors and logs, the run's
    log, what it read from the notebook (`namespace`: name -> kind, repr, hash), and the
    deployment decisions it made (`deployments`: DeploymentRecords, given by the
    caller that can read them)."""
    data: dict[str, Any] = {
        "id": run.id, "pipeline": run.pipeline, "trigger": run.trigger,
        "status": _value(run.status), "tone": tone(run.status),
        "started_at": run.started_at, "finished_at": run.finished_at,
        "duration": run.duration, "metrics": dict(run.metrics), "note": run_note(run),
        "failed_step": run.failed_step, "error": run.error,
        "mlflow_run_id": run.mlflow_run_id, "warnings": list(run.warnings),
        "tags": dict(getattr(run, "tags", None) or {}),
        "deployment": getattr(run, "deployment", None),
        "params": {k: _plain(v) for k, v in run.params.items()},
        "steps": [{"name": s.name, "status": _value(s.status), "tone": tone(s.status),
                   "duration": s.duration, "cached": _value(s.status) == "CACHED"}
                  for s in run.steps],
    }
    if detail:
        data["log"] = run.log
        data["namespace"] = {name: dict(entry) for name, entry in
                             (getattr(run, "namespace", None) or {}).items()}
        for step, out in zip(run.steps, data["steps"], strict=True):
            out.update(started=step.started, finished=step.finished, notes=list(step.notes),
                       metrics=dict(step.metrics), error=step.error, log=step.log)
        data["deployments"] = [deployment_json(d) for d in deployments]
    return data


def deployment_json(record: Any) -> dict[str, Any]:
    """A recorded deployment decision (deployed, kept, failed, rolled back, followed)."""
    outcome = str(getattr(record, "outcome", "") or "")
    return {
        "id": getattr(record, "id", None), "model_name": getattr(record, "model_name", None),
        "outcome": outcome, "tone": OUTCOME_TONES.get(outcome, "text"),
        "reason": getattr(record, "reason", "") or "",
        "version": _plain(getattr(record, "version", None)),
        "champion_version": _plain(getattr(record, "champion_version", None)),
        "metric": getattr(record, "metric", None), "value": _plain(getattr(record, "value", None)),
        "champion_value": _plain(getattr(record, "champion_value", None)),
        "run_id": getattr(record, "run_id", None), "endpoint": getattr(record, "endpoint", None),
        "created": getattr(record, "created", None),
    }


def _optional(svc: Any, name: str) -> Any:
    """An attribute only some services have (an MLflow service's model_version); a service
    that cannot answer (stopped, unreadable) gives None rather than failing the list."""
    try:
        value = getattr(svc, name, None)
        return value() if callable(value) else value
    except Exception:
        return None


def service_json(svc: Any, *, detail: bool = False) -> dict[str, Any]:
    """One JSON shape for a service (list and describe add to it, never rename). `serving` is
    the history row of what it serves now (which version, since when, why); `pinned` is set
    while a rollback pins the served version; `last_error` may be set while the status stays
    ACTIVE (a follower that cannot follow: `label` says so, in the warn `tone`)."""
    status = svc.status.value
    pid = getattr(svc, "pid", None)
    last_error, model_uri = svc.last_error, getattr(svc, "model_uri", None)
    label = service_label(status, last_error, model_uri)
    history = _optional(svc, "history")
    rows = None if history is None else [_plain_row(r) for r in history_rows(history)]
    pinned = _optional(svc, "pinned")
    data: dict[str, Any] = {
        "name": svc.name, "kind": getattr(svc, "stored_kind", svc.kind), "status": status,
        "label": label.text, "tone": label.tone,
        "wanted": getattr(getattr(svc, "wanted", None), "value", None),
        "endpoint": svc.endpoint, "pid": pid if pid and status != "INACTIVE" else None,
        "last_error": last_error, "model_uri": model_uri,
        "model_version": _plain(_optional(svc, "model_version")),
        "pinned": _plain_row(pinned) if isinstance(pinned, Mapping) else None,
        "serving": rows[0] if rows and rows[0]["live"] else None,
    }
    if detail:
        data.update({k: v for k, v in svc.describe().items() if k not in data})
        data["pid"] = pid
        data["history"] = rows
    return redact.data(data)


def _plain_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k): _plain(v) for k, v in row.items()}


def schedule_json(info: Any, *, owner: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A schedule as `ScheduleInfo` gives it (`status` is its label, never re-derived here);
    `owner` adds what the caller knows of the owning process (REST: `alive`, and the kernel id
    and notebook path when a kernel of that Jupyter server owns it)."""
    record, last = info.record, info.last_run
    return {
        "name": info.name, "status": info.status, "tone": tone(info.status),
        "state": record.state.value, "live": info.live,
        "owner": {**dict(info.owner or {}), **dict(owner or {})},
        "when": record.schedule.describe(),
        "next_fire": shown_next_fire(info),
        "succeeded": record.succeeded, "failed": record.failed, "skipped": record.skipped,
        "params": {k: _plain(v) for k, v in (info.params or {}).items()},
        "last_run": None if last is None else {
            "id": last.id, "status": last.status.value, "tone": tone(last.status),
            "started_at": last.started_at, "metrics": dict(last.metrics)},
    }


def info_json(home: Any, version: str, mlflow_ui: str | None, now: float) -> dict[str, Any]:
    """What a front end shows at its top: the state folder it reads, the package version, the
    MLflow UI's address (when an `mlflow-ui` service runs) and the server's clock."""
    return {"home": str(home), "version": version, "mlflow_ui": mlflow_ui, "now": now}
