"""A shared MLflow tracking server as the team's record: runs that ran elsewhere, read back as
ctcd runs, and deployment decisions published as model-version tags.

mlflow is imported lazily, only when a function here is called.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from ..engine.run import Run, RunState

if TYPE_CHECKING:
    from ..workspace import Workspace

__all__ = ["publish_decisions", "remote_runs", "with_remote_runs"]

_STATUS = {"FINISHED": RunState.SUCCEEDED, "FAILED": RunState.FAILED,
           "KILLED": RunState.FAILED, "RUNNING": RunState.RUNNING,
           "SCHEDULED": RunState.RUNNING}


def remote_runs(pipeline: str | None = None, *, tracking_uri: str | None = None,
                limit: int | None = 100, home: Any = None) -> list[Run]:
    """The ctcd runs the tracking server knows (every machine's), newest first, as `Run`s whose
    `trigger` says how and where each ran (`cli@host`) and whose `tags` hold `ctcd.where` and
    `ctcd.source=mlflow`. Steps, logs and artifacts stay on the machine that ran them."""
    from ..engine.tracking import Tracker
    from ..state import state_home

    tracker = Tracker(state_home(home))
    if tracking_uri:
        tracker.uri = tracking_uri
    client = tracker.client
    if pipeline is not None:
        experiment = client.get_experiment_by_name(pipeline)
        experiments = [experiment.experiment_id] if experiment is not None else []
    else:
        experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return []
    found = client.search_runs(experiments, filter_string="tags.`ctcd.run_id` != ''",
                               order_by=["attributes.start_time DESC"],
                               max_results=min(int(limit or 1000), 1000))
    return [_as_run(r) for r in found]


def _as_run(mlflow_run: Any) -> Run:
    info, data = mlflow_run.info, mlflow_run.data
    tags = data.tags
    where = tags.get("ctcd.where", "elsewhere")
    status = tags.get("ctcd.status")
    state = RunState(status) if status in RunState.__members__ else _STATUS.get(
        info.status, RunState.FAILED)
    links = {k: v for k, v in tags.items() if k.startswith("prefect.")}
    return Run(id=tags.get("ctcd.run_id", info.run_id[:12]),
               pipeline=tags.get("ctcd.pipeline", "?"),
               trigger=f"{tags.get('ctcd.trigger', '?')}@{where}", status=state,
               started_at=(info.start_time or 0) / 1000,
               finished_at=None if not info.end_time else info.end_time / 1000,
               params=dict(data.params), metrics={k: float(v) for k, v in data.metrics.items()
                                                  if not k.startswith("step_seconds.")},
               failed_step=tags.get("ctcd.failed_step"), mlflow_run_id=info.run_id,
               tags={"ctcd.where": where, "ctcd.source": "mlflow", **links}, owner={})


def with_remote_runs(workspace: Workspace, runs: list[Run], pipeline: str | None,
                     limit: int | None) -> list[Run]:
    """`runs` (this state folder's) plus the tracking server's runs it does not have, newest
    first. An unreachable server costs a warning on stderr, not the local list."""
    tracker = workspace.tracker
    if tracker is None:
        return runs
    try:
        remote = remote_runs(pipeline, tracking_uri=tracker.uri, limit=limit or 100,
                             home=workspace.home)
    except Exception as exc:  # the local history is still worth showing
        print(f"warning: runs from the tracking server {tracker.uri} left out: "
              f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        return runs
    known = {r.id for r in runs}
    merged = runs + [r for r in remote if r.id not in known]
    merged.sort(key=lambda r: r.started_at, reverse=True)
    return merged[:limit] if limit else merged


def publish_decisions(workspace: Workspace, run: Run) -> None:
    """Tag the model versions this run decided about with the decision (outcome, reason,
    metric values, run ids), and the registered model with its latest decision, so every
    machine sharing the tracking server sees what was deployed, kept or failed, and why."""
    if workspace.tracker is None:
        return
    from ..deployment import deployments

    mine = [d for d in deployments(workspace=workspace) if d.run_id == run.id]
    if not mine:
        return
    try:
        client = workspace.tracker.client
        for decision in reversed(mine):  # oldest first: the last one written is the latest
            summary = {"outcome": decision.outcome, "reason": decision.reason,
                       "version": decision.version, "metric": decision.metric,
                       "value": decision.value, "champion_version": decision.champion_version,
                       "champion_value": decision.champion_value, "ctcd_run_id": run.id,
                       "mlflow_run_id": run.mlflow_run_id, "where": run.tags.get(
                           "ctcd.where") or _where()}
            if decision.version:
                for key in ("outcome", "reason", "ctcd_run_id", "where"):
                    client.set_model_version_tag(decision.model_name, decision.version,
                                                 f"ctcd.decision.{key}", str(summary[key]))
            client.set_registered_model_tag(decision.model_name, "ctcd.last_decision",
                                            json.dumps(summary))
    except Exception as exc:
        run.warnings.append(f"deployment decisions of run {run.id} not published to the "
                            f"tracking server: {type(exc).__name__}: {exc}")
        print(f"warning: {run.warnings[-1]}", file=sys.stderr)


def _where() -> str:
    from ..engine.tracking import where_this_runs

    return where_this_runs()
