"""Every key the side panel's TypeScript interfaces (labextension/src/*.ts) read is produced by
the Python function that answers it (views/json.py and the views it draws on) for real objects:
a real pipeline run, a real registered service, a real schedule, a recorded decision."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step
from ctcd_jupyter.deployment import DeploymentRecord, _record, deployments
from ctcd_jupyter.engine.run_store import metric_series
from ctcd_jupyter.services.serving_history import history, record_served
from ctcd_jupyter.views.history import history_row
from ctcd_jupyter.views.json import (
    deployment_json,
    info_json,
    run_json,
    schedule_json,
    service_json,
)
from ctcd_jupyter.views.monitor_charts import monitor_json
from ctcd_jupyter.views.trend import trend_series

SOURCES = Path(__file__).resolve().parents[2] / "labextension" / "src"
INTERFACE = re.compile(r"export interface (\w+)(?: extends (\w+))? \{(.*?)\n\}", re.S)
FIELD = re.compile(r"^  (\w+)(\??):\s*(.*?);?$")
# interfaces that are not answers of views/json.py, and why
NOT_JSON = {"IServicesContext", "ISchedulesContext", "IRunsContext",
            "IPin"}  # IPin: what svc.pinned returns, given through service_json as is


def interfaces() -> dict[str, dict[str, bool]]:
    """{interface: {key: required}} of every exported interface, inherited keys included; an
    inline object type (`last_run: { id: string; ... }`) becomes `Outer.key`."""
    found: dict[str, tuple[str | None, dict[str, bool]]] = {}
    for source in sorted(SOURCES.glob("*.ts")):
        for name, parent, body in INTERFACE.findall(source.read_text()):
            keys: dict[str, bool] = {}
            for line in body.splitlines():
                match = FIELD.match(line)
                if not match:
                    continue
                key, optional, kind = match.groups()
                keys[key] = not optional
                inline = re.match(r"\{(.*)\}", kind.strip())
                if inline:
                    found[f"{name}.{key}"] = (None, {
                        k.strip().rstrip("?"): not k.strip().endswith("?")
                        for k in (part.split(":")[0] for part in inline.group(1).split(";"))
                        if k.strip()})
            found[name] = (parent or None, keys)

    def resolve(name: str) -> dict[str, bool]:
        parent, keys = found[name]
        return {**(resolve(parent) if parent else {}), **keys}

    return {name: resolve(name) for name in found}


def test_the_interfaces_are_parsed():
    parsed = interfaces()
    assert {"IRun", "IRunDetail", "IStepRun", "IDeployment", "IService", "IHistoryRow",
            "ISchedule", "IInfo", "ITrend", "ITrendPoint", "ITrendMark"} <= set(parsed)
    assert parsed["IRunDetail"]["id"] and parsed["IRunDetail"]["steps"]  # inherited + own
    assert parsed["ISchedule.last_run"] == {"id": True, "status": True, "tone": True,
                                            "started_at": True}


def answers(workspace) -> dict[str, dict]:
    """One JSON answer per interface, from real objects."""
    workspace.namespace = {"ctcd": ctcd}
    pipeline = Pipeline("cd", [Step("s", "ctcd.log_metric('accuracy', 0.9)\nx = 1")])
    run = pipeline.run()
    decision = _record(workspace.store, DeploymentRecord("web", "deployed", "0.9 >= 0.8",
                                                         "accuracy", 0.9, version="1",
                                                         run_id=run.id))
    _record(workspace.store, DeploymentRecord("web", "rolled back", "slow", version="1"))
    svc = ctcd.LocalDaemonService("web", [sys.executable, "-c", "pass"], health_path="/ping")
    record_served(workspace.home, "web", uri="models:/iris/2", version="2", why="deployed")
    workspace.schedule(pipeline, ctcd.Schedule(interval_second=3600, start_time="+1h"))
    info = next(i for i in workspace.scheduling.overview() if i.name == "cd")
    detail = run_json(run, detail=True, deployments=[decision])
    trends = trend_series(metric_series(workspace.store), deployments(workspace=workspace))
    monitor = monitor_json("web", _report())
    version = monitor["report"]["versions"][0]
    return {
        "IMonitor": monitor, "IMonitor.charts": monitor["charts"][0],
        "IMonitorVersion": version, "IMonitorVersion.labels": version["labels"],
        "IMonitorVersion.features": version["features"][0],
        "IMonitorVersion.prediction_drift": version["prediction_drift"],
        "IRun": run_json(run), "IRunDetail": detail, "IStepRun": detail["steps"][0],
        "IDeployment": deployment_json(decision), "IService": service_json(svc),
        "IHistoryRow": history_row(history(workspace.home, "web")[-1]),
        "ISchedule": schedule_json(info),
        "ISchedule.last_run": schedule_json(info)["last_run"],
        "IOwner": schedule_json(info)["owner"],
        "IInfo": info_json(workspace.home, "0", None, time.time()),
        "ITrend": trends["cd"], "ITrendPoint": trends["cd"]["points"][0],
        "ITrendMark": trends["cd"]["marks"][0],
    }


def _report() -> dict:
    """A real monitor report (MonitorReport over a log of 1,200 rows, 100 labelled)."""
    import numpy as np
    import pandas as pd

    from ctcd_jupyter.monitoring.report import MonitorReport

    rng = np.random.default_rng(0)
    n = 1200
    log = pd.DataFrame({"request_id": [f"r{i}" for i in range(n)], "time": 1e9 + np.arange(n),
                        "version": "1", "model_uri": "models:/web/1", "status": 200,
                        "latency_ms": rng.uniform(1, 3, n), "prediction": rng.integers(0, 2, n),
                        "label": [int(i % 2) if i >= n - 100 else None for i in range(n)],
                        "x0": rng.normal(size=n)})
    return MonitorReport(log, None, 600.0).to_dict()


def test_every_key_the_side_panel_reads_is_produced(workspace):
    produced = answers(workspace)
    parsed = interfaces()
    unanswered = set(parsed) - set(produced) - NOT_JSON
    assert not unanswered, f"interfaces with no Python answer in this test: {unanswered}"
    for name, keys in parsed.items():
        if name in NOT_JSON:
            continue
        answer = produced[name]
        missing = [k for k, required in keys.items() if required and k not in answer]
        assert not missing, f"{name} reads {missing}, which the JSON does not have"
