"""One JSON shape per object: what `ctcd ... --json` prints and the REST API answers (and so what
the side panel reads). Fields are added, never renamed; `tone` is the status colour's name."""

from __future__ import annotations

from typing import Any

from .format import tone
from .runs import run_note

__all__ = ["run_json", "schedule_json", "service_json"]


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def _value(state: Any) -> str:
    return str(getattr(state, "value", state))


def run_json(run: Any, *, detail: bool = False) -> dict[str, Any]:
    """One JSON shape for a run, used by `ctcd runs --json` and `GET /ctcd/api/runs`.
    `detail` adds the steps (with their logs), the params and the full error and log."""
    data: dict[str, Any] = {
        "id": run.id, "pipeline": run.pipeline, "trigger": run.trigger,
        "status": _value(run.status), "tone": tone(run.status),
        "started_at": run.started_at, "finished_at": run.finished_at,
        "duration": run.duration, "metrics": dict(run.metrics), "note": run_note(run),
        "failed_step": run.failed_step, "error": run.error,
        "mlflow_run_id": run.mlflow_run_id, "warnings": list(run.warnings),
    }
    if detail:
        data["params"] = {k: _plain(v) for k, v in run.params.items()}
        data["log"] = run.log
        data["steps"] = [{"name": s.name, "status": _value(s.status), "tone": tone(s.status),
                          "started": s.started, "finished": s.finished, "duration": s.duration,
                          "cached": _value(s.status) == "CACHED", "notes": list(s.notes),
                          "metrics": dict(s.metrics), "error": s.error, "log": s.log}
                         for s in run.steps]
    return data


def service_json(svc: Any, *, detail: bool = False) -> dict[str, Any]:
    """One JSON shape for a service (list and describe add to it, never rename)."""
    status = svc.status.value
    pid = getattr(svc, "pid", None)
    data: dict[str, Any] = {
        "name": svc.name, "kind": getattr(svc, "stored_kind", svc.kind), "status": status,
        "tone": tone(status), "wanted": getattr(getattr(svc, "wanted", None), "value", None),
        "endpoint": svc.endpoint, "pid": pid if pid and status != "INACTIVE" else None,
        "last_error": svc.last_error, "model_uri": getattr(svc, "model_uri", None),
    }
    if detail:
        data.update({k: v for k, v in svc.describe().items() if k not in data})
        data["pid"] = pid
    return data


def schedule_json(info: Any) -> dict[str, Any]:
    record, last = info.record, info.last_run
    return {
        "name": info.name, "status": info.status, "tone": tone(info.status),
        "state": record.state.value, "live": info.live, "owner": dict(info.owner or {}),
        "when": record.schedule.describe(),
        "next_fire": record.next_fire if info.live else None,
        "succeeded": record.succeeded, "failed": record.failed, "skipped": record.skipped,
        "params": {k: _plain(v) for k, v in (info.params or {}).items()},
        "last_run": None if last is None else {
            "id": last.id, "status": last.status.value, "tone": tone(last.status),
            "started_at": last.started_at, "metrics": dict(last.metrics)},
    }
