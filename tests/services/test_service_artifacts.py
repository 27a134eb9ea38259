"""A service as a step output: stored as its spec and identity, re-attached downstream."""

from __future__ import annotations

import sys

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, RunState, Step


def test_service_flows_between_steps_and_reattaches(workspace, ping_server):
    workspace.namespace = {"ctcd": ctcd, "command": [sys.executable, str(ping_server),
                                                     "{host}", "{port}"]}
    pipeline = Pipeline("svc", [
        Step("serve", "svc = ctcd.LocalDaemonService('pinger', command, health_path='/ping')\n"
                      "svc.start(timeout=30)"),
        Step("use", "endpoint = svc.endpoint\nalive = svc.is_running"),
    ])
    run = pipeline.run()
    try:
        assert run.status is RunState.SUCCEEDED, run.error
        assert run.outputs["alive"] is True
        assert run.outputs["endpoint"].startswith("http://127.0.0.1:")
        meta = workspace.artifacts.meta(run.steps[0].outputs["svc"])
        assert meta["serializer"] == "service"  # a JSON spec, never a pickled process handle
        loaded = run.outputs["svc"]
        assert loaded.uuid == ctcd.get_service("pinger").uuid and loaded.is_running
    finally:
        ctcd.get_service("pinger").stop(timeout=10)


def test_service_class_defined_in_a_cell_is_refused(workspace):
    workspace.namespace = {"ctcd": ctcd}
    pipeline = Pipeline("bad", [
        Step("serve", "class Mine(ctcd.LocalDaemonService):\n    pass\n"
                      "svc = Mine('mine', ['true'])"),
        Step("use", "x = svc.name"),
    ])
    run = pipeline.run()
    assert run.status is RunState.FAILED
    assert "svc" in run.error and "Mine" in run.error
