from __future__ import annotations

import sys

from conftest import buttons, eventually

import ctcd_jupyter as ctcd
from ctcd_jupyter import Pipeline, Step
from ctcd_jupyter.clock import FakeClock
from ctcd_jupyter.schedules.pipelines import Scheduling
from ctcd_jupyter.widgets import RunsView, SchedulesPanel, ServicesPanel


def test_services_panel_start_logs_stop_and_isolated_errors(workspace, ping_server):
    ctcd.LocalDaemonService("web", [sys.executable, str(ping_server), "{host}", "{port}"],
                            health_path="/ping")
    ctcd.LocalDaemonService("broken", [sys.executable, "-c", "raise SystemExit(3)"],
                            health_path="/ping", port=0)
    panel = ServicesPanel()
    rows = {row.children[0].value.split("</b>")[0][3:]: row for row in panel._rows.children}
    assert set(rows) == {"web", "broken"} and "INACTIVE" in rows["web"].children[0].value

    buttons(rows["broken"])["start"].click()
    panel.wait_idle(60)
    assert panel.message.startswith("error: start broken")
    buttons(rows["web"])["start"].click()  # the failure above broke nothing
    panel.wait_idle(60)
    assert panel.message == "web: ACTIVE"
    web_row = next(r for r in panel._rows.children if "<b>web</b>" in r.children[0].value)
    assert "ACTIVE" in web_row.children[0].value and "http://127.0.0.1:" in \
        web_row.children[0].value
    buttons(web_row)["logs"].click()
    assert "serving" in panel._logs.value and panel._logs.layout.display is None
    buttons(web_row)["stop"].click()
    panel.wait_idle(60)
    assert not ctcd.get_service("web").is_running and panel.message == "web: INACTIVE"


def test_predict_box_reports_bad_input(workspace):
    panel = ServicesPanel()
    assert panel._input.layout.display == "none"  # no model server: no predict box
    panel._predict.click()
    assert panel.message == "error: no model server to predict with"


def test_schedules_panel_follows_the_scheduler_and_controls_it(workspace):
    clock = FakeClock(1_800_000_000.0)
    workspace._scheduling = Scheduling(workspace, clock=clock)
    workspace.namespace = {}
    Pipeline("ct", [Step("s", "x = 1")]).run(schedule=ctcd.Schedule(interval_second=60))
    workspace.scheduling.scheduler.wait_idle(10)
    panel = SchedulesPanel()
    [row] = panel._rows.children
    assert "<b>ct</b>" in row.children[0].value and "1 ok" in row.children[0].value
    clock.advance(60)  # the next run updates the panel through the scheduler's events
    eventually(lambda: "2 ok" in panel._rows.children[0].children[0].value)
    [row] = panel._rows.children
    buttons(row)["pause"].click()
    [row] = panel._rows.children
    assert "PAUSED" in row.children[0].value and panel.message == "paused ct"
    buttons(row)["runs"].click()
    assert panel.runs.pipeline == "ct" and panel.runs._table.value.count("<tr>") == 3
    buttons(row)["remove"].click()
    assert "no schedules" in panel._rows.children[0].value
    buttons(row)["pause"].click()  # a stale row's button: an error message, not an exception
    assert panel.message.startswith("error: cannot pause 'ct'")
    workspace.scheduling.stop()


def test_runs_view_filters_and_limits(workspace):
    workspace.namespace = {}
    for name in ("a", "b"):
        Pipeline(name, [Step(f"s{name}", "x = 1 / n")]).run(params={"n": 1})
    Pipeline("a", [Step("sa", "x = 1 / n")]).run(params={"n": 0})
    view = RunsView()
    assert view._table.value.count("<tr>") == 4 and set(view._choice.options) >= {"a", "b"}
    view._choice.value = "a"
    assert view.pipeline == "a" and view._table.value.count("<tr>") == 3
    assert "ZeroDivisionError" in view._table.value and "FAILED" in view._table.value
    view._limit.value = 1
    assert view._table.value.count("<tr>") == 2


def test_predict_box_with_a_real_model_server(workspace):
    import json

    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    ctcd.mlflow_deploy(LogisticRegression(max_iter=300).fit(X, y), "iris",
                       input_example=X.head(2))
    panel = ServicesPanel()
    assert list(panel._target.options) == ["iris"] and panel._input.layout.display is None
    panel._input.value = json.dumps(X.head(3).to_dict("records"))
    panel._predict.click()
    assert panel.message == "iris: 3 prediction(s)" and "[0 0 0]" in panel._result.value
    panel._input.value = "{not json"
    panel._predict.click()
    assert panel.message.startswith("error: the input is not JSON")
    panel._input.value = json.dumps([{"wrong": 1.0}])
    panel._predict.click()
    assert panel.message.startswith("error: service 'iris' answered 400")
