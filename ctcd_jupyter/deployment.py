"""Continuous deployment: `mlflow_deploy` logs and registers a newly trained model, and replaces
the served model, without downtime, when it passes the criterion; every decision is recorded.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .criteria import Champion, Criterion, Verdict, criterion_from_dict
from .engine.context import Context, current_context, current_run
from .engine.steps import Step
from .engine.tracking import Tracker
from .errors import (
    CtcdError,
    DeploymentError,
    ModelSwapError,
    ServiceNotFoundError,
    ServiceStartError,
)
from .progress import reporter
from .services import MLFlowDeploymentService, ServiceState, get_service, services, transaction
from .state import Store

__all__ = ["DeploymentError", "DeploymentRecord", "MLFlowDeployerConfig", "deployments",
           "mlflow_deploy", "mlflow_deployer_step"]

CHAMPION = "champion"
# Errors after which the new model was certainly not served (the server refused it, or the
# first start failed): the deployer records them; anything else is settled by the transaction.
_REFUSED = (ModelSwapError, ServiceStartError)


@dataclass
class DeploymentRecord:
    """One decision: deployed (now serving), kept (criterion failed) or failed (error)."""

    model_name: str
    outcome: str
    reason: str
    metric: str | None = None
    value: float | None = None
    champion_value: float | None = None
    version: str | None = None
    champion_version: str | None = None
    run_id: str | None = None
    endpoint: str | None = None
    created: float = field(default_factory=time.time)
    id: int | None = None

    def __str__(self) -> str:
        version = f" v{self.version}" if self.version else ""
        return f"{self.model_name}{version}: {self.outcome.upper()} ({self.reason})"

    @property
    def serving(self) -> str | None:
        """The version served once this decision was made."""
        changed = self.outcome in ("deployed", "rolled_back", "followed")
        return self.version if changed else self.champion_version


def deployments(model_name: str | None = None, *, workspace: Context | None = None,
                limit: int | None = None) -> list[DeploymentRecord]:
    """Recorded decisions, newest first: deployed, kept, failed (from `mlflow_deploy`, or a
    deployment settled after its caller died), rolled back (`svc.rollback`), and followed (a
    moved alias, from the model server's history)."""
    workspace = workspace or current_context()
    store = workspace.store
    sql, args = "SELECT id, data FROM deployments", ()
    if model_name is not None:
        sql, args = sql + " WHERE model_name = ?", (model_name,)
    sql += " ORDER BY id DESC"
    records = []
    known = {f.name for f in fields(DeploymentRecord)}
    for row in store.execute(sql, args):
        data = {k: v for k, v in Store.loads(row["data"]).items() if k in known}
        data["id"] = row["id"]
        records.append(DeploymentRecord(**data))
    # e.g. a read-only state folder without the history table yet: the decisions still list
    with contextlib.suppress(sqlite3.Error):
        records += _served_changes(workspace, model_name)
    records.sort(key=lambda r: r.created, reverse=True)
    return records[:int(limit)] if limit else records


# Rollbacks and deployments are recorded as decisions; a moved alias only by the server.
_CHANGES = {"followed the alias": "followed"}


def _served_changes(workspace: Context, model_name: str | None) -> list[DeploymentRecord]:

    found = []
    for svc in services(workspace.home):
        if not isinstance(svc, MLFlowDeploymentService) or (
                model_name is not None and svc.name != model_name):
            continue
        for entry in svc.history():
            outcome = _CHANGES.get(entry.get("why"))
            if outcome:
                found.append(DeploymentRecord(
                    svc.name, outcome, f"{entry['why']}: serving {entry['uri']}",
                    version=entry.get("version"), endpoint=svc._endpoint(),
                    created=entry["served_from"]))
    return found


def _data(record: DeploymentRecord) -> dict[str, Any]:
    data = asdict(record)
    data.pop("id")
    return data


def _record(store: Store, record: DeploymentRecord) -> DeploymentRecord:
    record.id = transaction.record_decision(store, _data(record))
    return _note(record)


def _note(record: DeploymentRecord) -> DeploymentRecord:
    run = current_run()
    if run is not None and record.run_id in (None, run.id):  # the run's note says what it did
        run.note_deployment(asdict(record))
    return record


def mlflow_deploy(model: Any, model_name: str, *, criterion: Criterion | None = None,
                  metrics: Mapping[str, float] | None = None, metric: float | None = None,
                  workers: int = 1, timeout: float = 180.0, input_example: Any = None,
                  reference: Any = None, workspace: Context | None = None,
                  progress: bool | Callable[[str], None] | None = None,
                  ) -> MLFlowDeploymentService | None:
    """Deploy `model` as `model_name` if it passes `criterion`; returns the service serving
    `model_name` afterwards (the same server, or None when nothing serves).

    Metrics: `metrics`, plus `metric=` (one value, named after the criterion's metric), plus
    what this run logged with `ctcd.log_metric`. A model that passes is registered in the MLflow
    Model Registry, loaded inside the running server beside the served model, probed with one
    real prediction (`input_example`), switched to, and then the `champion` alias moves (the
    service follows `models:/NAME@champion`). The first deployment starts the server. A model
    that fails is never served: the old one keeps answering, the version is tagged
    `ctcd.deploy=failed`, and `DeploymentError` says why in one line. A start in progress
    (e.g. from the side panel) is waited for, not raced. `workers` applies to a new server.

    `reference`: the training features (e.g. `X_train`); a seeded sample of at most 10,000 rows,
    with the model's predictions for it, is stored with the new version in MLflow, and the
    monitor (`svc.monitor()`) measures drift against it on every machine. Without it, a
    version's first 1,000 logged rows are its reference (the views say so).
    """
    workspace = workspace or current_context()
    report = reporter(model_name, progress)  # None: a line in a notebook, else silent
    run = current_run()
    merged = dict(run.metrics) if run is not None else {}
    merged.update(metrics or {})
    if metric is not None:
        names = criterion.metric_names() if criterion is not None else []
        merged[names[0] if names else "metric"] = float(metric)

    try:
        service = get_service(model_name, workspace.home)
    except ServiceNotFoundError:
        service = None
    if service is not None and not isinstance(service, MLFlowDeploymentService):
        if service.is_running:
            raise DeploymentError(
                f"a {service.kind} service named {model_name!r} is running; stop it or deploy "
                "under another model_name", model_name=model_name)
        service = None
    serving = service is not None and _join_start(service, timeout, report) \
        is ServiceState.ACTIVE
    pin = service.pinned if service is not None else None
    if pin is not None:  # a rollback said which version serves: scheduled runs keep it
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(pin["at"]))
        record = DeploymentRecord(
            model_name, "kept", f"pinned by {pin['reason']} at {stamp}", metric=None,
            champion_version=pin["version"], run_id=run.id if run is not None else None,
            endpoint=service.endpoint if serving else None)
        _record(workspace.store, record)
        report(f"kept {model_name} v{pin['version']}: pinned by {pin['reason']} at {stamp}")
        return service if serving else None
    registry = _Registry(workspace)
    champion = registry.champion(model_name, service if serving else None)

    candidate_predict = getattr(model, "predict", None)
    verdict = (criterion.evaluate(merged, champion, candidate_predict) if criterion is not None
               else Verdict(True, "no criterion"))
    record = DeploymentRecord(model_name, "kept", verdict.reason, verdict.metric, verdict.value,
                              verdict.champion_value, None,
                              champion.version if champion else None,
                              run.id if run is not None else None)
    if not verdict.passed:
        record.endpoint = service.endpoint if serving else None
        _record(workspace.store, record)
        report(f"kept {model_name}"
                + (f" v{champion.version}" if champion else "") + f": {verdict.reason}")
        return service if serving else None

    sample = None
    if reference is not None:  # checked before anything is registered
        from .services.references import reference_frame

        names = [str(c) for c in input_example.columns] \
            if hasattr(input_example, "columns") else None
        sample = reference_frame(reference, model, columns=names)
    report("registering the new version")
    version = registry.register(model, model_name, merged, input_example, run)
    record.version = version
    if sample is not None:
        registry.keep_reference(model_name, version, sample)
    uri = f"models:/{model_name}/{version}"
    report(f"loading v{version}")
    in_transaction = False
    try:
        if service is None:
            service = MLFlowDeploymentService(model_name, f"models:/{model_name}@{CHAMPION}",
                                              workers=workers, home=workspace.home)
        in_transaction = True
        record.outcome = "deployed"
        record.id = transaction.run(
            service, uri, version=version, why="deployed", doing=f"deploying v{version}",
            decision=_data(record), probe=input_example, timeout=timeout, progress=report,
            refused=_REFUSED)
    except Exception as exc:
        reason = getattr(exc, "reason", None) or str(exc).strip() or type(exc).__name__
        reason = reason.splitlines()[0]
        if not in_transaction or isinstance(exc, _REFUSED):  # else the transaction recorded it
            registry.tag_failed(model_name, version, reason)
            record.outcome, record.reason = "failed", f"{verdict.reason}; not served: {reason}"
            _record(workspace.store, record)
        keeps = f"; v{champion.version} keeps serving" if serving and champion and \
            champion.version else ("; the previous model keeps serving" if serving else "")
        report(f"v{version} failed: {reason}")
        raise DeploymentError(
            f"model {model_name!r} v{version} passed ({verdict.reason}) but was not served: "
            f"{reason}{keeps}", model_name=model_name, version=version) from exc
    record.endpoint = service.endpoint
    _note(record)
    report(f"serving v{version} at {service.endpoint} (deployed: "
            f"{verdict.reason})")
    return service


def _join_start(service: Any, timeout: float, report: Callable[[str], None]) -> Any:
    """The service's state, after waiting for a start another process has in progress."""

    state = service.status
    if state is ServiceState.PENDING_STARTUP:
        report("waiting for the server's start in progress")
        with contextlib.suppress(CtcdError):  # a failed start: this deployment starts it
            service.start(timeout=timeout, progress=False)
        state = service.status
    return state


class _Registry:
    """The MLflow Model Registry, through an explicit client on the workspace's tracking URI."""

    def __init__(self, workspace: Context):
        self.tracker = workspace.tracker or Tracker(workspace.home)
        self.client = self.tracker.client

    def champion(self, model_name: str, service: Any) -> Champion | None:
        from mlflow.exceptions import MlflowException

        try:
            version = self.client.get_model_version_by_alias(model_name, CHAMPION)
        except MlflowException:
            version = None
        if version is None and service is None:
            return None
        metrics = {k.removeprefix("ctcd.metric."): float(v)
                   for k, v in (version.tags if version else {}).items()
                   if k.startswith("ctcd.metric.")}
        return Champion(str(version.version) if version else None, metrics,
                        service.predict if service is not None else None)

    def register(self, model: Any, model_name: str, metrics: Mapping[str, float],
                 input_example: Any, run: Any) -> str:
        client = self.client
        run_id = run.mlflow_run_id if run is not None and run.mlflow_run_id else None
        if run_id is None:
            experiment = self.tracker.experiment_id(f"{model_name}-deployments")
            run_id = client.create_run(experiment, run_name=f"deploy-{model_name}").info.run_id
            client.set_terminated(run_id)
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "model"
            _save_model(model, path, input_example)
            client.log_artifacts(run_id, str(path), "model")
        source = f"{client.get_run(run_id).info.artifact_uri}/model"
        from mlflow.exceptions import MlflowException

        with contextlib.suppress(MlflowException):  # it exists
            client.create_registered_model(model_name)
        tags = {f"ctcd.metric.{k}": str(v) for k, v in metrics.items()}
        version = client.create_model_version(model_name, source=source, run_id=run_id,
                                              tags=tags)
        return str(version.version)

    def keep_reference(self, model_name: str, version: str, sample: Any) -> None:
        """Store the reference sample with the version (services/references.py)."""
        from .services.references import store_reference

        run_id = self.client.get_model_version(model_name, version).run_id
        store_reference(self.client, model_name, version, run_id, sample)

    def tag_failed(self, model_name: str, version: str, reason: str) -> None:
        """Mark a version that could not be served, so no one promotes it by mistake."""
        with contextlib.suppress(Exception):  # never hide the deployment's own error
            self.client.set_model_version_tag(model_name, version, "ctcd.deploy", "failed")
            self.client.set_model_version_tag(model_name, version, "ctcd.deploy.reason",
                                              reason[:4000])


def _save_model(model: Any, path: Path, input_example: Any) -> None:
    """scikit-learn models in their own flavor; anything else with `.predict` as a pyfunc."""
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    signature = None
    if input_example is not None and hasattr(model, "predict"):
        signature = infer_signature(input_example, model.predict(input_example))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        level = logging.getLogger("mlflow").level
        logging.getLogger("mlflow").setLevel(logging.ERROR)  # pickle-format and schema hints
        try:
            if type(model).__module__.startswith("sklearn"):
                import mlflow.sklearn

                mlflow.sklearn.save_model(model, str(path), serialization_format="cloudpickle",
                                          signature=signature, pip_requirements=[])
            elif hasattr(model, "predict"):
                class PredictWrapper(mlflow.pyfunc.PythonModel):
                    def __init__(self, inner: Any):
                        self.inner = inner

                    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
                        return self.inner.predict(model_input)

                mlflow.pyfunc.save_model(str(path), python_model=PredictWrapper(model),
                                         signature=signature, pip_requirements=[])
            else:
                raise CtcdError(f"cannot deploy a {type(model).__name__}: it has no predict()")
        finally:
            logging.getLogger("mlflow").setLevel(level)


# -- seed compatibility -----------------------------------------------------------------------
@dataclass(frozen=True)
class MLFlowDeployerConfig:
    """The seed's deployer settings, usable with `mlflow_deployer_step`."""

    model_name: str
    workers: int = 1
    criterion: Criterion | None = None
    timeout: float = 180.0

    def to_dict(self) -> dict:
        return {"model_name": self.model_name, "workers": self.workers, "timeout": self.timeout,
                "criterion": None if self.criterion is None else self.criterion.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MLFlowDeployerConfig:
        criterion = data.get("criterion")
        return cls(data["model_name"], int(data.get("workers", 1)),
                   criterion_from_dict(criterion) if criterion else None,
                   float(data.get("timeout", 180.0)))


def mlflow_deployer_step(config: MLFlowDeployerConfig, *, name: str = "deploy") -> Any:
    """A ready step that deploys the `model` an upstream step produced (reads `model`, writes
    `service`); its settings are stored in the step's source as data."""

    settings = repr(config.to_dict())  # a Python literal: the step stays plain data
    source = ("import ctcd_jupyter.deployment as _deployment\n"
              f"_config = _deployment.MLFlowDeployerConfig.from_dict({settings})\n"
              "service = _deployment.mlflow_deploy(model, _config.model_name, "
              "criterion=_config.criterion, workers=_config.workers, timeout=_config.timeout)\n")
    return Step(name, source, inputs=["model"], outputs=["service"])
