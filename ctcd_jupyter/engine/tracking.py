"""MLflow tracking of pipeline runs: one MLflow run per ctcd run, experiment = pipeline name.
mlflow is imported here, lazily, on the first tracked run (it costs ~1.5 s).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..state import ensure_dir, mlflow_tracking_uri
from ..views.runs import run_note
from .observers import RunObserver
from .run import Run, RunState

__all__ = ["EXPERIMENT_KIND", "NAMESPACE_PREFIX", "Tracker", "TrackingObserver",
           "experiments_of", "where_this_runs"]

NAMESPACE_PREFIX = "ns."  # MLflow params of the values a run read from the notebook

# MLflow 3's UI opens an experiment without this tag in its GenAI view, which shows "No data".
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def where_this_runs() -> str:
    """Which machine ran a run, for runs read back from a shared tracking server."""
    import socket

    return os.environ.get("CTCD_WHERE") or socket.gethostname()


def experiments_of(home: Path | str | None, mlflow_run_ids: list[str]) -> dict[str, str]:
    """The MLflow experiment of each run, read from a SQLite tracking store without importing
    mlflow (seconds); none for other stores (the UI's /#/runs/ID route finds those)."""
    import contextlib
    import sqlite3

    uri = mlflow_tracking_uri(home)
    if not uri.startswith("sqlite:///") or not mlflow_run_ids:
        return {}
    marks = ",".join("?" * len(mlflow_run_ids))
    try:
        with contextlib.closing(sqlite3.connect(f"file:{uri[len('sqlite:///'):]}?mode=ro",
                                                uri=True, timeout=1)) as db:
            rows = db.execute(f"SELECT run_uuid, experiment_id FROM runs WHERE run_uuid IN "
                              f"({marks})", tuple(mlflow_run_ids)).fetchall()
    except sqlite3.Error:
        return {}
    return {run: str(experiment) for run, experiment in rows}


class Tracker:
    """Talks to MLflow through an explicit client: no process-global active run or experiment,
    so scheduled runs on worker threads never move the user's own MLflow runs."""

    def __init__(self, home: Path):
        self.home = Path(home)
        self.uri = mlflow_tracking_uri(self.home)
        if self.uri == f"sqlite:///{self.home / 'mlflow.db'}":
            # MLflow creates its files with the process umask (0644): ours are private.
            database = self.home / "mlflow.db"
            os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(database, 0o600)
            os.chmod(ensure_dir(self.home / "mlartifacts"), 0o700)
        self._client: Any = None
        self._experiments: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                import logging

                from mlflow.tracking import MlflowClient

                # "Creating initial MLflow database tables..." is noise in a notebook cell.
                logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)

                if self.uri.startswith(("http://", "https://")):
                    # MLflow retries a down server for minutes by default; a run should not
                    # wait that long to learn tracking is unavailable.
                    import os

                    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
                    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
                self._client = MlflowClient(tracking_uri=self.uri)
            return self._client

    def experiment_id(self, name: str) -> str:
        if name not in self._experiments:
            client = self.client
            experiment = client.get_experiment_by_name(name)
            if experiment is not None:
                self._experiments[name] = experiment.experiment_id
                if experiment.tags.get(EXPERIMENT_KIND[0]) is None:  # made by an older ctcd
                    client.set_experiment_tag(experiment.experiment_id, *EXPERIMENT_KIND)
            else:
                location = None
                if self.uri.startswith("sqlite:///") and str(self.home) in self.uri:
                    # Without an artifact location MLflow writes to ./mlruns of the cwd.
                    location = ensure_dir(self.home / "mlartifacts").as_uri()
                self._experiments[name] = client.create_experiment(
                    name, artifact_location=location, tags=dict([EXPERIMENT_KIND]))
        return self._experiments[name]

    def start(self, run: Run) -> str:
        from mlflow.entities import Param, RunTag

        client = self.client
        tags = {"ctcd.run_id": run.id, "ctcd.pipeline": run.pipeline, "ctcd.trigger": run.trigger,
                "ctcd.where": where_this_runs(), **run.tags}
        mlflow_run = client.create_run(self.experiment_id(run.pipeline),
                                       run_name=f"{run.pipeline}-{run.id}", tags=tags)
        run_id = mlflow_run.info.run_id
        params = [Param(k, str(v)[:6000]) for k, v in run.params.items()]
        tags = [RunTag("ctcd.params", ",".join(run.params))] if run.params else []
        # what the run read from the notebook: its short repr as a param, its hash as a tag
        for name, read in run.namespace.items():
            params.append(Param(f"{NAMESPACE_PREFIX}{name}", str(read.get("repr"))[:6000]))
            if read.get("hash"):
                tags.append(RunTag(f"ctcd.{NAMESPACE_PREFIX}{name}.hash", str(read["hash"])))
        if params or tags:
            client.log_batch(run_id, params=params, tags=tags)
        return run_id

    def finish(self, run: Run, history: list[tuple[str, float, int, int]]) -> None:
        """Log metrics (each logged value, in order), step durations and the outcome."""
        from mlflow.entities import Metric, RunTag

        if run.mlflow_run_id is None:
            return
        metrics = [Metric(name, value, timestamp, step) for name, value, timestamp, step in history]
        for step in run.steps:
            if step.duration is not None:
                metrics.append(Metric(f"step_seconds.{step.name}", step.duration,
                                      int((step.finished or 0) * 1000), 0))
        tags = [RunTag("ctcd.status", run.status.value)]
        for step in run.steps:
            tags.append(RunTag(f"ctcd.step.{step.name}", step.status.value))
        if run.failed_step:
            tags.append(RunTag("ctcd.failed_step", run.failed_step))
        decision = run.deployment or {}
        for key in ("outcome", "version", "champion_version", "reason", "model_name"):
            if decision.get(key) not in (None, ""):
                tags.append(RunTag(f"ctcd.deployment.{key}", str(decision[key])[:5000]))
        note = run_note(run)
        if note:
            tags.append(RunTag("ctcd.note", note[:5000]))
        client = self.client
        for start in range(0, max(len(metrics), 1), 900):  # MLflow caps a batch at 1000
            client.log_batch(run.mlflow_run_id, metrics=metrics[start:start + 900],
                             tags=tags if start == 0 else [])
        status = "FINISHED" if run.status is RunState.SUCCEEDED else "FAILED"
        client.set_terminated(run.mlflow_run_id, status=status,
                              end_time=int((run.finished_at or 0) * 1000))


class TrackingObserver(RunObserver):
    """MLflow tracking as a run observer: an MLflow run opens at run start (so a step can log
    a model into it) and gets the metrics and outcome at run end. Tracking never costs the
    user a run: a failure becomes a warning on the run."""

    def __init__(self, tracker: Callable[[], Tracker | None]):
        self._tracker = tracker  # resolved per run: tracking can be switched off on the context

    def run_start(self, run: Run) -> None:
        tracker = self._tracker()
        if tracker is None:
            return
        try:
            run.mlflow_run_id = tracker.start(run)
        except Exception as exc:
            run.warnings.append(
                f"MLflow tracking unavailable at {tracker.uri} ({_first_line(exc)}): this run's "
                "params, metrics and step times are only in the local state folder, not in "
                "MLflow")

    def run_end(self, run: Run) -> None:
        tracker = self._tracker()
        if tracker is None or run.mlflow_run_id is None:
            return
        try:
            tracker.finish(run, run._history)
        except Exception as exc:
            lost = ", ".join(run.metrics) or "none"
            run.warnings.append(
                f"MLflow tracking failed at the end of the run ({_first_line(exc)}): MLflow "
                f"run {run.mlflow_run_id} at {tracker.uri} lacks this run's metrics ({lost}), "
                "step times and final status; the local run record has them")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__
