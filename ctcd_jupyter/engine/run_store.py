"""Run records in the state store: save, load, and mark runs whose process died as FAILED."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..identity import is_alive
from ..state import Store
from .run import Run, RunState, StepState

if TYPE_CHECKING:
    from .artifacts import ArtifactStore

__all__ = ["attach_deployments", "load_run", "load_runs", "metric_series", "owner_alive",
           "pipeline_names", "reap_orphaned_runs", "run_ids", "save_run"]


def save_run(store: Store, run: Run) -> None:
    store.execute(
        "INSERT OR REPLACE INTO runs (id, pipeline, trigger, status, started, finished, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (run.id, run.pipeline, run.trigger, run.status.value, run.started_at, run.finished_at,
         Store.dumps(run.to_dict())),
    )


def owner_alive(owner: Mapping[str, Any]) -> bool:
    """Whether the process recorded in `owner` still runs (an unknown owner counts as alive, a
    malformed one as gone). The rule is `ctcd_jupyter.identity`'s, the same as for services."""
    if not owner:
        return True
    try:
        return is_alive(owner)
    except ValueError:
        return False


def _orphaned(run: Run) -> bool:
    """A RUNNING run whose process is gone (a kernel died mid-run): mark it FAILED (in place)."""
    if run.status is not RunState.RUNNING or owner_alive(run.owner):
        return False
    run.status = RunState.FAILED
    run.finished_at = run.finished_at or run.started_at
    run.error = (f"the process running this run (pid {run.owner.get('pid')}) exited "
                 "before it finished, e.g. the kernel was restarted or died\n")
    for step in run.steps:
        if step.status in (StepState.RUNNING, StepState.PENDING):
            step.status = StepState.FAILED if step.status is StepState.RUNNING \
                else StepState.SKIPPED
    return True


def reap_orphaned_runs(store: Store) -> int:
    """Store RUNNING runs whose process is gone as FAILED; returns how many. Without this they
    would show as running forever and hold back artifact pruning. A read-only store is left
    as it is (`load_runs` still shows such runs as FAILED)."""
    if store.readonly:
        return 0
    reaped = 0
    for row in store.execute("SELECT data FROM runs WHERE status = 'RUNNING'"):
        try:
            run = Run.from_dict(Store.loads(row["data"]))
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        if _orphaned(run):
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
        except (ValueError, KeyError, TypeError, AttributeError):
            continue
        _orphaned(run)
        run._artifacts = artifacts
        runs.append(run)
    return attach_deployments(runs, store)


def load_run(store: Store, run_id: str, artifacts: ArtifactStore | None = None) -> Run | None:
    rows = store.execute("SELECT data FROM runs WHERE id = ? OR id LIKE ?", (run_id, run_id + "%"))
    if len(rows) != 1:
        return None
    try:
        run = Run.from_dict(Store.loads(rows[0]["data"]))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    _orphaned(run)
    run._artifacts = artifacts
    return attach_deployments([run], store)[0]


def attach_deployments(runs: list[Run], store: Store) -> list[Run]:
    """Give runs without a `deployment` the last decision the deployer recorded for them in
    the store's `deployments` table (keyed by run id), so lists show it whichever way the
    deployer recorded it. Read-only; a store without the table changes nothing."""
    missing = {r.id: r for r in runs if getattr(r, "deployment", None) is None}
    if not missing:
        return runs
    marks = ",".join("?" * len(missing))
    try:
        rows = store.execute(
            "SELECT data FROM deployments WHERE json_extract(data, '$.run_id') IN "
            f"({marks}) ORDER BY id", tuple(missing))
    except Exception:  # an older store, or no deployments table: nothing to attach
        return runs
    for row in rows:
        try:
            data = Store.loads(row["data"])
        except (TypeError, ValueError):
            continue
        run = missing.get(data.get("run_id"))
        if run is not None:
            run.deployment = data
    return runs


def pipeline_names(store: Store, *, defined: bool = False) -> list[str]:
    """Every pipeline that has a recorded run (and, with `defined`, every stored definition),
    sorted."""
    sql = "SELECT DISTINCT pipeline AS name FROM runs"
    if defined:
        sql += " UNION SELECT name FROM pipelines"
    return [r["name"] for r in store.execute(sql + " ORDER BY name")]


def run_ids(store: Store, prefix: str = "") -> list[str]:
    """The ids of the recorded runs starting with `prefix`, newest first."""
    return [r["id"] for r in store.execute(
        "SELECT id FROM runs WHERE id LIKE ? ORDER BY started DESC", (prefix + "%",))]


def metric_series(store: Store, pipeline: str | None = None,
                  limit: int = 1000) -> list[dict[str, Any]]:
    """The metrics of a pipeline's whole history (its newest `limit` runs that logged any),
    oldest first, without loading the runs: id, pipeline, started, metrics, and the
    deployment decision recorded for the run (None if none)."""
    sql = ("SELECT id, pipeline, started, json_extract(data, '$.metrics') AS metrics, "
           "json_extract(data, '$.deployment') AS deployment FROM runs "
           "WHERE json_extract(data, '$.metrics') NOT IN ('{}', '') ")
    args: tuple = ()
    if pipeline is not None:
        sql, args = sql + "AND pipeline = ? ", (pipeline,)
    sql += f"ORDER BY started DESC, rowid DESC LIMIT {max(1, int(limit))}"
    points = []
    for row in reversed(store.execute(sql, args)):
        try:
            metrics = Store.loads(row["metrics"] or "{}")
            deployment = Store.loads(row["deployment"]) if row["deployment"] else None
        except ValueError:
            continue
        metrics = {k: v for k, v in metrics.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool)}
        if metrics:
            points.append({"id": row["id"], "pipeline": row["pipeline"],
                           "started": row["started"], "metrics": metrics,
                           "deployment": deployment})
    recorded = {}
    ids = [p["id"] for p in points if p["deployment"] is None]
    for start in range(0, len(ids), 500):  # SQLite's limit on host parameters
        chunk = ids[start:start + 500]
        rows = store.execute(
            "SELECT data FROM deployments WHERE json_extract(data, '$.run_id') IN "
            f"({','.join('?' * len(chunk))}) ORDER BY id", tuple(chunk))
        for row in rows:
            with contextlib.suppress(ValueError):
                data = Store.loads(row["data"])
                recorded[data.get("run_id")] = data
    for point in points:
        if point["deployment"] is None:
            point["deployment"] = recorded.get(point["id"])
    return points
