"""A run records what it read from the notebook: a short repr and a content hash of each value
(functions by their code, modules and classes left out), shown in its detail and logged to
MLflow as `ns.NAME` params."""

from __future__ import annotations

import json
import re

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step
from ctcd_jupyter.clock import FakeClock
from ctcd_jupyter.schedules.pipelines import Scheduling
from ctcd_jupyter.schedules.trigger import Schedule
from ctcd_jupyter.views.json import run_json
from ctcd_jupyter.views.run_detail import run_detail_html
from ctcd_jupyter.views.runs import run_text

SOURCE = "tree = helper(depth) + len(json.dumps(options)) + len(dumps(1)) + Box.size + C"


class Box:
    size = 1


# a function of the notebook (defined in __main__), unlike a library's `json.dumps`
exec("def helper(value):\n    return value * 2", notebook := {"__name__": "__main__"})
helper = notebook["helper"]


def _pipeline(workspace, **values):
    workspace.namespace.update(helper=helper, json=json, Box=Box, dumps=json.dumps, **values)
    return Pipeline("p", [Step("fit", SOURCE)])


def test_a_run_records_the_values_and_functions_it_read(workspace):
    run = _pipeline(workspace, depth=3, options={"a": "x" * 200}).run(params={"C": 1})
    assert run.ok, run.error
    # no module, class, library function, parameter
    assert set(run.namespace) == {"depth", "options", "helper"}
    assert run.namespace["depth"]["repr"] == "3" and run.namespace["depth"]["kind"] == "value"
    assert re.fullmatch(r"[0-9a-f]{16}", run.namespace["depth"]["hash"])
    assert run.namespace["helper"] == {"kind": "function", "repr": "<function helper>",
                                       "hash": run.namespace["helper"]["hash"]}
    assert run.namespace["helper"]["hash"]
    assert len(run.namespace["options"]["repr"]) <= 80
    assert ctcd.runs("p")[0].namespace == run.namespace  # stored with the run


def test_a_changed_value_has_another_hash(workspace):
    pipeline = _pipeline(workspace, depth=3, options={})
    first = pipeline.run(params={"C": 1}).namespace
    workspace.namespace["depth"] = 4
    second = pipeline.run(params={"C": 1}).namespace
    assert second["depth"]["repr"] == "4" and second["depth"]["hash"] != first["depth"]["hash"]
    assert second["options"] == first["options"]


def test_a_scheduled_run_records_what_it_read(workspace):
    scheduling = Scheduling(workspace, clock=FakeClock(1_800_000_000.0))
    workspace._scheduling = scheduling
    try:
        pipeline = _pipeline(workspace, depth=5, options={}, C=2)
        scheduling.add(pipeline, Schedule(interval_second=60))
        scheduling.scheduler.wait_idle(timeout=10)
    finally:
        scheduling.stop()
    [run] = ctcd.runs("p")
    assert run.trigger == "schedule" and run.namespace["depth"]["repr"] == "5"
    assert run.namespace["C"]["repr"] == "2"  # a notebook value, not a parameter here


def test_the_run_detail_shows_what_was_read(workspace):
    run = _pipeline(workspace, depth=3, options={}).run(params={"C": 1})
    digest = run.namespace["depth"]["hash"]
    line = next(x for x in run_text(run).splitlines() if x.startswith("read from the notebook"))
    assert f"depth=3 #{digest}" in line and "helper=<function helper> #" in line
    html = run_detail_html(run)
    assert "read from the notebook" in html and "<code>depth</code>=3" in html
    assert run_json(run, detail=True)["namespace"]["depth"] == {
        "kind": "value", "repr": "3", "hash": digest}


def test_mlflow_gets_them_as_params(home, monkeypatch, tmp_path):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    workspace = ctcd.Workspace(home, namespace={"depth": 7}, tracking=True)
    old = ctcd.set_workspace(workspace)
    try:
        run = Pipeline("p", [Step("fit", "tree = depth * C")]).run(params={"C": 2})
    finally:
        ctcd.set_workspace(old)
        workspace.close()
    assert run.ok and run.warnings == []
    data = MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}").get_run(
        run.mlflow_run_id).data
    assert data.params == {"C": "2", "ns.depth": "7"}
    assert data.tags["ctcd.ns.depth.hash"] == run.namespace["depth"]["hash"]
