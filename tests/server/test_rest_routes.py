"""The REST routes the side panel's detail view, logs, rollback and header use, against a real
server, real services and real runs; and the one JSON shape shared with the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tornado.httpclient import HTTPClientError

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step
from ctcd_jupyter.deployment import DeploymentRecord, _record

PING = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def log_message(self, *args):
        print("request", self.path, flush=True)
print("ping server up", flush=True)
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"""


async def get(jp_fetch, *path, **params):
    response = await jp_fetch("ctcd", "api", *path, params=params)
    return json.loads(response.body)


async def refused(jp_fetch, *path, method="GET", **params):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("ctcd", "api", *path, params=params, method=method,
                       body="" if method == "POST" else None)
    return info.value.code, json.loads(info.value.response.body)["error"]


def ping_service(tmp_path, name="web"):
    script = tmp_path / "ping.py"
    script.write_text(PING)
    return ctcd.LocalDaemonService(name, [sys.executable, str(script), "{host}", "{port}"],
                                   health_path="/ping")


async def test_cli_json_and_rest_list_a_service_with_the_same_keys(jp_fetch, home, tmp_path):
    svc = ping_service(tmp_path)
    svc.start(progress=False)
    [listed] = await get(jp_fetch, "services")
    out = subprocess.run([sys.executable, "-m", "ctcd_jupyter.cli", "services", "list", "--json"],
                         env=dict(os.environ, CTCD_HOME=str(home)), capture_output=True,
                         text=True, check=True, timeout=60).stdout
    [printed] = json.loads(out)
    assert set(printed) == set(listed)
    assert printed["status"] == listed["status"] == "ACTIVE"
    assert printed["endpoint"] == listed["endpoint"]


async def test_run_detail_has_steps_logs_params_and_the_deployment(jp_fetch, workspace):
    run = Pipeline("p", [Step("a", "print('loading', n)\nx = n"),
                         Step("b", "print('training')\ny = x / 0")]).run(params={"n": 2})
    _record(workspace.store, DeploymentRecord("iris", "kept", "0.71 < 0.76", "accuracy", 0.71,
                                              0.76, None, "4", run.id))
    detail = await get(jp_fetch, "runs", run.id)
    assert detail["status"] == "FAILED" and detail["failed_step"] == "b"
    assert detail["params"] == {"n": 2}
    assert [s["name"] for s in detail["steps"]] == ["a", "b"]
    assert "loading 2" in detail["steps"][0]["log"] and "training" in detail["steps"][1]["log"]
    assert detail["steps"][0]["cached"] is False and detail["steps"][0]["duration"] >= 0
    assert "ZeroDivisionError" in detail["error"]
    [decision] = detail["deployments"]
    assert decision["outcome"] == "kept" and decision["champion_version"] == "4"
    assert decision["tone"] == "muted"
    # the list keeps its shape: the detail only adds keys
    [listed] = await get(jp_fetch, "runs", limit="1")
    assert set(listed) < set(detail)
    code, error = await refused(jp_fetch, "runs", "nosuchrun")
    assert code == 404 and "nosuchrun" in error


async def test_deployments_listed_newest_first(jp_fetch, workspace):
    _record(workspace.store, DeploymentRecord("iris", "deployed", "first model", version="1"))
    _record(workspace.store, DeploymentRecord("iris", "rolled back", "v2 was worse",
                                              version="1"))
    records = await get(jp_fetch, "deployments", model="iris")
    assert [(d["outcome"], d["version"]) for d in records] == [("rolled back", "1"),
                                                               ("deployed", "1")]
    assert records[0]["tone"] == "warn"


async def test_logs_rollback_and_info(jp_fetch, home, tmp_path):
    svc = ping_service(tmp_path)
    svc.start(progress=False)
    logs = await get(jp_fetch, "services", "web", "logs", tail="5")
    assert "ping server up" in logs["logs"] and logs["tail"] == 5
    code, error = await refused(jp_fetch, "services", "web", "logs", tail="lots")
    assert code == 400 and "tail" in error
    code, error = await refused(jp_fetch, "services", "web", "rollback", method="POST")
    assert code == 409 and "this service has no model to roll back" in error
    code, _ = await refused(jp_fetch, "services", "nope", "logs")
    assert code == 404

    info = await get(jp_fetch, "info")
    assert info["home"] == str(home) and info["mlflow_ui"] is None
    assert info["version"] and info["now"] > 0
    ui = ping_service(tmp_path, "mlflow-ui")
    ui.start(progress=False)
    info = await get(jp_fetch, "info")
    assert info["mlflow_ui"] == ui.endpoint


async def test_schedule_actions_refuse_with_the_owner_named(jp_fetch, workspace):
    Pipeline("p", [Step("s", "x = 1")])
    workspace.scheduling.add(ctcd.get_pipeline("p"),
                             ctcd.Schedule(interval_second=3600, start_time="+1h"))
    try:
        [listed] = await get(jp_fetch, "schedules")
        assert listed["owner"]["pid"] == os.getpid() and listed["owner"]["alive"] is True
        assert "kernel_id" not in listed["owner"]  # this test process is no kernel of the server
        code, error = await refused(jp_fetch, "schedules", "p", "pause", method="POST")
        assert code == 409 and f"pid {os.getpid()}" in error
        assert "not a kernel of this Jupyter server" in error
        code, error = await refused(jp_fetch, "schedules", "p", "explode", method="POST")
        assert code == 400 and "pause, resume, run" in error
        code, error = await refused(jp_fetch, "schedules", "nope", "run", method="POST")
        assert code == 404
    finally:
        workspace.scheduling.stop()
    # the scheduler stopped: the record stays, owned by a process that no longer runs it
    code, error = await refused(jp_fetch, "schedules", "p", "resume", method="POST")
    assert code == 409


def test_the_state_folder_can_be_configured(tmp_path, monkeypatch):
    from traitlets.config import Config

    from ctcd_jupyter.server import state_folder

    class App:
        root_dir = str(tmp_path)
        config = Config()

    monkeypatch.delenv("CTCD_HOME", raising=False)
    assert state_folder(App()) == tmp_path / ".ctcd"
    monkeypatch.setenv("CTCD_HOME", str(tmp_path / "env"))
    assert state_folder(App()) == tmp_path / "env"
    App.config.CtcdApp.home = str(tmp_path / "configured")
    assert state_folder(App()) == tmp_path / "configured"


async def test_unpin_is_refused_where_there_is_no_model(jp_fetch, home, tmp_path):
    ping_service(tmp_path)
    code, error = await refused(jp_fetch, "services", "web", "unpin", method="POST")
    assert code == 409 and "this service has no model to unpin" in error
    code, error = await refused(jp_fetch, "services", "nope", "unpin", method="POST")
    assert code == 404
    code, error = await refused(jp_fetch, "services", "web", "explode", method="POST")
    assert code == 400 and "unpin" in error.split("known: ")[1]
    [listed] = await get(jp_fetch, "services")
    assert listed["pinned"] is None and listed["serving"] is None


async def test_trends_cover_the_whole_history_with_deploys_and_rollbacks(jp_fetch, workspace):
    workspace.namespace = {"ctcd": ctcd}
    step = "ctcd.log_metric('accuracy', acc)\nx = 1"
    runs = [Pipeline("train", [Step("s", step)]).run(params={"acc": acc})
            for acc in (0.7, 0.8, 0.75, 0.9)]
    Pipeline("quiet", [Step("s", "y = 1")]).run()  # no metrics: no trend
    _record(workspace.store, DeploymentRecord("iris", "deployed", "0.8 > 0.7", version="1",
                                              run_id=runs[1].id))
    _record(workspace.store, DeploymentRecord("iris", "rolled back", "slow", version="1"))
    trends = await get(jp_fetch, "trends", limit="2")
    assert list(trends) == ["train"]
    assert [p["id"] for p in trends["train"]["points"]] == [runs[2].id, runs[3].id]
    trends = await get(jp_fetch, "trends")  # the whole history, not the recent runs' window
    points = trends["train"]["points"]
    assert [p["metrics"]["accuracy"] for p in points] == [0.7, 0.8, 0.75, 0.9]
    assert [p["deployed"] for p in points] == [False, True, False, False]
    assert points[1]["note"] == "deployed v1"
    [mark] = trends["train"]["marks"]
    assert mark["version"] == "1" and mark["reason"] == "slow"
