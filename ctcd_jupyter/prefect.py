"""Exported pipelines as Prefect flows (the `prefect` extra): one task per step, values passed
through ctcd's artifact store, ctcd's step cache honoured, and the Prefect flow run, the ctcd
run and the MLflow run linked by name and tags.

`to_flow(pipeline_or_path)` gives a flow to call or serve; `serve` and `deploy` back
`ctcd prefect serve|deploy`. Both run `pipeline_flow`, a module-level flow whose parameters
carry the exported file's text, so a worker on any machine with ctcd_jupyter[prefect]
installed can run it without shared storage. Imported only when used (never by
`import ctcd_jupyter`); Prefect's analytics and telemetry are off unless set otherwise.

Two workers on one tick: Prefect's scheduler creates one flow run per scheduled time and only
one worker can move it from SCHEDULED to PENDING, so a tick is one run. Deployments also get a
Prefect concurrency limit of 1 with collision strategy CANCEL_NEW, which holds across machines
(ctcd's run lock is per process): a tick that comes while a run is going is cancelled, as the
in-kernel scheduler skips it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import CtcdError, PrefectUnavailable

# Offline-friendly defaults, before prefect reads its settings.
for _key, _value in {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                     "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false"}.items():
    os.environ.setdefault(_key, _value)

try:
    from prefect import flow, task
    from prefect.cache_policies import NO_CACHE
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(f"ctcd_jupyter.prefect needs Prefect: pip install "
                      f"'ctcd_jupyter[prefect]' ({exc})") from exc

__all__ = ["PrefectUnavailable", "deploy", "pipeline_flow", "schedule_from_args", "serve",
           "to_flow"]

FLOW_NAME = "ctcd-pipeline"


# -- the flow -------------------------------------------------------------------------------
_EXECUTIONS: dict[str, Any] = {}  # ctcd run id -> its execution, for the step tasks


@task(name="ctcd-step", cache_policy=NO_CACHE, persist_result=False)
def step_task(run_id: str, step: str, ids: dict[str, str]) -> dict[str, str]:
    """Run one step of ctcd run `run_id`; its inputs and outputs are artifact ids."""
    execution = _EXECUTIONS[run_id]
    ids = execution.run_step(step, ids)
    record = execution.run.step(step)
    if record.status.value == "FAILED":
        raise CtcdError(f"step {step!r} of run {run_id} failed: "
                        f"{(record.error or '').strip().splitlines()[-1:]}")
    return ids


@flow(name=FLOW_NAME, log_prints=True, persist_result=False)
def pipeline_flow(source: str, filename: str = "pipeline.py",
                  params: dict[str, Any] | None = None, cache: bool = True) -> dict[str, Any]:
    """Run the exported pipeline whose file text is `source` once, a task per step (steps
    whose inputs did not change are ctcd cache hits unless `cache=False`)."""
    from .portable.runfile import load_source

    return _run(load_source(source, filename), params or {}, cache=cache)


def _run(exported: Any, params: Mapping[str, Any], *, cache: bool = True) -> dict[str, Any]:
    from prefect.runtime import flow_run

    from .engine.executor import new_run_id, prepare
    from .engine.tracking import where_this_runs
    from .portable.remote import publish_decisions
    from .workspace import Workspace

    values = exported.params(params)
    workspace = Workspace(namespace=exported.namespace)
    run_id = new_run_id()
    flow_run_id = flow_run.get_id()
    tags = {"prefect.flow_run_id": str(flow_run_id or ""), "ctcd.where": where_this_runs()}
    try:
        pipeline = exported.pipeline(workspace)
        with workspace.run_lock(pipeline.name):
            execution = prepare(pipeline, params=values, cache=cache, trigger="prefect",
                                run_id=run_id, tags=tags, tee=True)
            _EXECUTIONS[run_id] = execution
            try:
                execution.begin()
                _link(flow_run_id, f"{pipeline.name}-{run_id}", run_id, execution.run)
                ids: dict[str, str] = {}
                for step in pipeline.graph().steps:
                    if execution.run.failed_step is not None:
                        execution.run_step(step.name, ids)  # recorded as SKIPPED
                        continue
                    # A failed step raises in its task; the run record has it, later steps skip.
                    with contextlib.suppress(CtcdError):
                        ids = step_task.with_options(
                            name=step.name, task_run_name=f"{step.name} ({run_id})",
                            tags=[f"ctcd.run:{run_id}"])(run_id, step.name, ids)
            finally:
                run = execution.end()
                _EXECUTIONS.pop(run_id, None)
        publish_decisions(workspace, run)
    finally:
        workspace.close()
    print(run.summary())
    if not run.ok:
        raise CtcdError(f"ctcd run {run.id} of {run.pipeline!r} failed: {run.summary()}")
    return {"ctcd_run_id": run.id, "mlflow_run_id": run.mlflow_run_id, "metrics": run.metrics}


def _link(flow_run_id: Any, name: str, run_id: str, run: Any) -> None:
    """Name the flow run like the ctcd and MLflow runs, and tag it with both ids."""
    if not flow_run_id:
        return
    from prefect.client.orchestration import get_client

    tags = [f"ctcd.run:{run_id}"] + ([f"mlflow.run:{run.mlflow_run_id}"]
                                     if run.mlflow_run_id else [])
    try:
        with get_client(sync_client=True) as client:
            current = client.read_flow_run(flow_run_id)
            client.update_flow_run(flow_run_id, name=name,
                                   tags=sorted({*(current.tags or []), *tags}))
    except Exception as exc:  # the run itself matters more than its name in Prefect
        run.warnings.append(f"could not name the Prefect flow run {flow_run_id}: {exc}")


def to_flow(pipeline_or_path: Any, *, params: Mapping[str, Any] | None = None) -> Any:
    """A Prefect flow running the pipeline (a `ctcd.Pipeline`, its name, or an exported file's
    path). Calling it runs the pipeline once: `to_flow("cd_pipeline.py")(params={"C": 1})`.
    A notebook pipeline is exported first (so what cannot travel is an error now)."""
    source, filename = _source(pipeline_or_path)
    from .portable.runfile import load_source

    exported = load_source(source, filename)
    defaults = dict(params or {})

    @flow(name=f"ctcd-{exported.name}", log_prints=True, persist_result=False)
    def ctcd_flow(params: dict[str, Any] | None = None) -> dict[str, Any]:
        return _run(load_source(source, filename), {**defaults, **(params or {})})

    return ctcd_flow


def _source(pipeline_or_path: Any) -> tuple[str, str]:
    if isinstance(pipeline_or_path, (str, os.PathLike)) and str(pipeline_or_path).endswith(
            ".py"):
        path = Path(pipeline_or_path)
        if not path.is_file():
            from .portable.runfile import export_advice

            raise CtcdError(f"no such file: {path}; export one with {export_advice()}")
        return path.read_text(), path.name
    from .portable.export import export_source

    text = export_source(pipeline_or_path)
    name = getattr(pipeline_or_path, "name", pipeline_or_path)
    return text, f"{name}_pipeline.py"


# -- serve and deploy ---------------------------------------------------------------------------
def schedule_from_args(*, cron: str | None, every: str | None, tz: str | None,
                       file: str | None = None) -> Any:
    """A Prefect schedule from --cron/--tz or --every; neither: the file's SCHEDULE."""
    from prefect.schedules import Cron, Interval

    if cron:
        from .schedules.trigger import Schedule

        Schedule(cron_expression=cron, tz=tz or "UTC")  # ctcd's own check: one-line errors
        return Cron(cron, timezone=tz or "UTC")
    if every:
        from .schedules.trigger import parse_duration

        return Interval(parse_duration(every))
    if file is not None:
        from .portable.runfile import load_file

        schedule = load_file(file).schedule
        if schedule is not None and schedule.cron_expression:
            return Cron(schedule.cron_expression, timezone=schedule.tz)
        if schedule is not None:
            return Interval(schedule.interval_second)
    raise CtcdError("give --cron EXPR or --every DURATION (the file has no SCHEDULE)")


def check_server(timeout: float = 5.0) -> str:
    """The Prefect API URL, after checking it answers; PrefectUnavailable otherwise."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        raise PrefectUnavailable(
            "PREFECT_API_URL is not set: start a server (prefect server start) and set "
            "PREFECT_API_URL=http://HOST:4200/api")
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=timeout).raise_for_status()
    except httpx.HTTPError as exc:
        raise PrefectUnavailable(
            f"the Prefect server at PREFECT_API_URL={url} does not answer "
            f"({type(exc).__name__}); start it (prefect server start) or fix PREFECT_API_URL"
        ) from None
    return url


def _deployment_parameters(path: str, params: Mapping[str, Any], cache: bool = True
                           ) -> tuple[dict[str, Any], str]:
    from .portable.runfile import load_file

    exported = load_file(path)
    exported.params(params)  # a missing required parameter fails now, not at every tick
    return {"source": Path(path).read_text(), "filename": Path(path).name,
            "params": dict(params), "cache": cache}, exported.name


def _limit() -> Any:
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    return ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)


def serve(path: str, *, schedule: Any, params: Mapping[str, Any] | None = None,
          name: str | None = None, home: Any = None, cache: bool = True) -> None:
    """Serve the exported file's pipeline on `schedule` from this process (flow.serve); each
    flow run runs in a subprocess of this one. Blocks until interrupted."""
    if home is not None:
        os.environ["CTCD_HOME"] = str(Path(home).resolve())
    check_server()
    parameters, pipeline = _deployment_parameters(path, dict(params or {}), cache)
    print(f"serving pipeline {pipeline} from {Path(path).name} as deployment "
          f"{FLOW_NAME}/{name or pipeline}; stop with Ctrl-C", file=sys.stderr, flush=True)
    pipeline_flow.serve(name=name or pipeline, schedules=[schedule], parameters=parameters,
                        global_limit=_limit(), print_starting_message=False)


def deploy(path: str, *, work_pool: str, schedule: Any, params: Mapping[str, Any] | None = None,
           name: str | None = None, create_pool: bool = False, home: Any = None,
           cache: bool = True) -> str:
    """Register a deployment of the exported file's pipeline that workers of `work_pool` run
    (`prefect worker start --pool POOL`, with ctcd_jupyter[prefect] installed); returns its
    id. Workers use their own $CTCD_HOME and $MLFLOW_TRACKING_URI."""
    from prefect.deployments.runner import EntrypointType

    check_server()
    parameters, pipeline = _deployment_parameters(path, dict(params or {}), cache)
    if create_pool:
        _ensure_pool(work_pool)
    deployment = pipeline_flow.to_deployment(
        name=name or pipeline, schedules=[schedule], parameters=parameters,
        concurrency_limit=_limit(), entrypoint_type=EntrypointType.MODULE_PATH)
    return str(deployment.apply(work_pool_name=work_pool))


def _ensure_pool(name: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(name=name, type="process"))
