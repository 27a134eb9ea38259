"""The REST API the side panel uses, against a real server, real services and real runs."""

from __future__ import annotations

import json
import sys

import pytest
from tornado.httpclient import HTTPClientError

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step

PING = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"""


async def get(jp_fetch, *path, **params):
    response = await jp_fetch("ctcd", "api", *path, params=params)
    return json.loads(response.body)


async def test_services_listed_started_and_stopped_from_outside_a_kernel(jp_fetch, home,
                                                                        tmp_path):
    script = tmp_path / "ping.py"
    script.write_text(PING)
    ctcd.LocalDaemonService("web", [sys.executable, str(script), "{host}", "{port}"],
                            health_path="/ping")
    [listed] = await get(jp_fetch, "services")
    assert listed["name"] == "web" and listed["status"] == "INACTIVE"

    started = await jp_fetch("ctcd", "api", "services", "web", "start", method="POST", body="")
    summary = json.loads(started.body)
    assert summary["status"] == "ACTIVE" and summary["endpoint"].startswith("http://127.0.0.1")
    assert ctcd.get_service("web").is_running  # the same store the kernels use
    described = await get(jp_fetch, "services", "web")
    assert described["config"]["health_path"] == "/ping"

    stopped = await jp_fetch("ctcd", "api", "services", "web", "stop", method="POST", body="")
    assert json.loads(stopped.body)["status"] == "INACTIVE"
    assert not ctcd.get_service("web").is_running


async def test_bad_requests_say_what_was_wrong(jp_fetch, home):
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("ctcd", "api", "services", "nope")
    assert info.value.code == 404 and "no service named 'nope'" in info.value.response.body.decode()
    ctcd.LocalDaemonService("idle", [sys.executable, "-c", "pass"])
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("ctcd", "api", "services", "idle", "explode", method="POST", body="")
    assert info.value.code == 400 and "no action named 'explode'" in \
        info.value.response.body.decode()
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("ctcd", "api", "runs", params={"limit": "many"})
    assert info.value.code == 400


async def test_runs_and_schedules(jp_fetch, workspace):
    workspace.namespace = {}
    Pipeline("p", [Step("s", "x = 1 / n")]).run(params={"n": 1})
    Pipeline("p", [Step("s", "x = 1 / n")]).run(params={"n": 0})
    runs = await get(jp_fetch, "runs", pipeline="p", limit="5")
    assert [r["status"] for r in runs] == ["FAILED", "SUCCEEDED"]
    assert "ZeroDivisionError" in runs[0]["note"]
    workspace.scheduling.add(ctcd.get_pipeline("p"), ctcd.Schedule(interval_second=3600,
                                                                   start_time="+1h"),
                             params={"n": 1})
    [schedule] = await get(jp_fetch, "schedules")
    assert schedule["name"] == "p" and "every 1h" in schedule["when"]
    assert schedule["last_run"]["status"] == "FAILED"
    workspace.scheduling.stop()


async def test_the_api_needs_authentication(http_server_client, jp_base_url, home):
    with pytest.raises(HTTPClientError) as info:
        await http_server_client.fetch(f"{jp_base_url}ctcd/api/services")
    assert info.value.code == 403
