from __future__ import annotations

import sys

from conftest import buttons, eventually, rows, text

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
    panel = ServicesPanel(poll=False)
    table = rows(panel)
    assert set(table) == {"web", "broken"} and "INACTIVE" in text(table["web"])
    web = table["web"]
    assert buttons(web)["stop"].disabled and not buttons(web)["start"].disabled
    # verbs the service does not have are hidden, not dead buttons
    assert buttons(web)["rollback"].layout.display == "none"

    buttons(table["broken"])["start"].click()
    panel.wait_idle(60)
    assert panel.message.startswith("error: start broken")
    assert "ERROR" in text(rows(panel)["broken"])
    buttons(web)["start"].click()  # the failure above broke nothing
    panel.wait_idle(60)
    assert panel.message == "web: ACTIVE"
    assert rows(panel)["web"] is web  # updated in place
    assert "ACTIVE" in text(web) and "http://127.0.0.1:" in text(web)
    assert buttons(web)["start"].disabled and not buttons(web)["stop"].disabled
    buttons(web)["logs"].click()
    assert "serving" in panel._logs.value and panel._logs.layout.display is None
    buttons(web)["stop"].click()
    panel.wait_idle(60)
    assert not ctcd.get_service("web").is_running and panel.message == "web: INACTIVE"
    assert buttons(web)["stop"].disabled
    panel.close()


def test_pending_row_counts_seconds(workspace, ping_server):
    slow = ("import time, runpy, sys; time.sleep(1.5); sys.argv = sys.argv[1:]; "
            "runpy.run_path(sys.argv[0], run_name='__main__')")
    ctcd.LocalDaemonService("slow", [sys.executable, "-c", slow, str(ping_server), "{host}",
                                     "{port}"], health_path="/ping")
    panel = ServicesPanel(poll=False)
    buttons(rows(panel)["slow"])["start"].click()
    # while it starts: PENDING_STARTUP with the seconds so far, and Start cannot be clicked
    eventually(lambda: panel.poll_once() and "PENDING_STARTUP" in text(rows(panel)["slow"]))
    assert "s</span>" in text(rows(panel)["slow"])
    assert buttons(rows(panel)["slow"])["start"].disabled
    panel.wait_idle(60)
    assert "ACTIVE" in text(rows(panel)["slow"]) and "PENDING" not in text(rows(panel)["slow"])
    panel.close()


def test_predict_box_reports_bad_input(workspace):
    panel = ServicesPanel(poll=False)
    assert panel._input.layout.display == "none"  # no model server: no predict box
    panel._predict.click()
    assert panel.message == "error: no model server to predict with"


def test_schedules_panel_follows_the_scheduler_and_controls_it(workspace):
    clock = FakeClock(1_800_000_000.0)
    workspace._scheduling = Scheduling(workspace, clock=clock)
    workspace.namespace = {}
    Pipeline("ct", [Step("s", "x = 1")]).run(schedule=ctcd.Schedule(interval_second=60))
    workspace.scheduling.scheduler.wait_idle(10)
    panel = SchedulesPanel(poll=False)
    row = rows(panel)["ct"]
    assert "<b>ct</b>" in text(row) and "1 / 0 / 0" in text(row)
    assert buttons(row)["resume"].disabled and not buttons(row)["pause"].disabled
    clock.advance(60)  # the next run updates the panel through the scheduler's events
    eventually(lambda: "2 / 0 / 0" in text(row))
    buttons(row)["pause"].click()
    assert "PAUSED" in text(row) and panel.message == "paused ct"
    assert buttons(row)["pause"].disabled and not buttons(row)["resume"].disabled
    buttons(row)["runs"].click()
    assert panel.runs.pipeline == "ct" and len(rows(panel.runs)) == 2
    # a change made elsewhere in the kernel (the magics call the same functions) shows at once
    workspace.scheduling.resume("ct")
    assert "ACTIVE" in text(row) and buttons(row)["resume"].disabled
    workspace.scheduling.remove("ct")
    assert rows(panel) == {} and "no schedules" in panel._table.children[0].value
    buttons(row)["pause"].click()  # a stale row's button: an error message, not an exception
    assert panel.message.startswith("error: cannot pause 'ct'")
    panel.close()
    workspace.scheduling.stop()


def test_runs_view_filters_limits_and_shows_details(workspace):
    workspace.namespace = {}
    for name in ("a", "b"):
        Pipeline(name, [Step(f"s{name}", "print('hello from', n)\nx = 1 / n")]).run(
            params={"n": 1})
    failed = Pipeline("a", [Step("sa", "print('hello from', n)\nx = 1 / n")]).run(
        params={"n": 0})
    view = RunsView(poll=False)
    assert len(rows(view)) == 3 and set(view._choice.options) >= {"a", "b"}
    view._choice.value = "a"
    assert view.pipeline == "a" and len(rows(view)) == 2
    assert "ZeroDivisionError" in text(rows(view)[failed.id]) and "FAILED" in text(
        rows(view)[failed.id])
    buttons(rows(view)[failed.id])["details"].click()
    detail = view._detail.value
    assert f"run {failed.id}" in detail and "Traceback" in detail and "hello from 0" in detail
    assert "<code>n</code>=0" in detail and buttons(rows(view)[failed.id])["details"].description \
        == "hide"
    buttons(rows(view)[failed.id])["details"].click()
    assert view._detail.value == ""
    view._limit.value = 1
    assert len(rows(view)) == 1
    view.close()


def test_runs_view_follows_runs_and_other_processes(workspace, home):
    workspace.namespace = {}
    view = RunsView(poll=False)
    assert rows(view) == {}
    run = Pipeline("p", [Step("s", "x = 1")]).run()  # a run observer refreshes the view
    assert list(rows(view)) == [run.id]
    other = ctcd.Workspace(home, namespace={}, tracking=False)  # another process's store handle
    try:
        Pipeline("p", [Step("s", "x = 2")], workspace=other).run()
    finally:
        other.close()
    assert len(rows(view)) == 1  # not seen yet ...
    assert view.poll_once() and len(rows(view)) == 2  # ... the next poll sees it
    assert not view.poll_once()  # nothing changed: no refresh
    view.close()
    assert len(workspace.observers) == 1  # only MLflow tracking is left


def test_deployment_notes_and_trend(workspace):
    from ctcd_jupyter.deployment import DeploymentRecord, _record

    workspace.namespace = {"ctcd": ctcd}
    step = ("ctcd.log_metric('accuracy', acc)\nctcd.current_run().note_deployment(decision)\n"
            "done = True")
    decisions = [
        {"model_name": "iris", "outcome": "deployed", "version": "4", "reason": "first"},
        {"model_name": "iris", "outcome": "deployed", "version": "5", "reason": "better"},
        {"model_name": "iris", "outcome": "kept", "version": "6", "champion_version": "5",
         "value": 0.71, "champion_value": 0.76, "reason": "0.71 < 0.76"},
    ]
    runs = [Pipeline("cd", [Step("s", step)]).run(params={"acc": acc, "decision": d})
            for acc, d in zip((0.7, 0.76, 0.71), decisions, strict=True)]
    plain = Pipeline("cd", [Step("s", "ctcd.log_metric('accuracy', 0.5)\ndone = True")]).run()
    # a decision only recorded in the deployments table (keyed by run id) shows too
    _record(workspace.store, DeploymentRecord("iris", "rolled back", "manual", version="4",
                                              run_id=plain.id))
    view = RunsView(poll=False)
    notes = {run_id: text(row) for run_id, row in rows(view).items()}
    assert "deployed v4" in notes[runs[0].id] and "deployed v5" in notes[runs[1].id]
    assert "kept v5 (0.71 &lt; 0.76)" in notes[runs[2].id]
    assert "rolled back to v4" in notes[plain.id] and "accuracy=0.5" in notes[plain.id]
    assert "<svg" in view._trend.value and view._metric.value == "accuracy"
    assert view._trend.value.count("r='4'") == 2  # the two deployed runs are marked
    assert "var(--jp-success-color1" in view._trend.value and "#" not in \
        view._trend.value.split("var(--jp-success-color1")[0][-40:]
    buttons(rows(view)[runs[1].id])["details"].click()
    assert "deployment" in view._detail.value and "better" in view._detail.value
    view.close()


def test_predict_box_with_a_real_model_server(workspace):
    import json

    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    ctcd.mlflow_deploy(LogisticRegression(max_iter=300).fit(X, y), "iris",
                       input_example=X.head(2))
    panel = ServicesPanel(poll=False)
    assert list(panel._target.options) == ["iris"] and panel._input.layout.display is None
    # the box starts from the model's signature (its input example where one is stored)
    eventually(lambda: panel._input.value.startswith('[{"sepal length (cm)": 0.0'), 60)
    panel._predict.click()
    assert panel.message == "iris: 1 prediction(s)" and "<pre" in panel._result.value
    assert "answered by" in panel._result.value and " ms" in panel._result.value
    panel._input.value = json.dumps(X.head(3).to_dict("records"))
    panel._predict.click()
    assert panel.message == "iris: 3 prediction(s)" and "[0, 0, 0]" in panel._result.value
    panel._input.value = "{not json"
    panel._predict.click()
    assert panel.message.startswith("error: the input is not JSON")
    assert panel._result.value == ""  # the old answer is gone
    panel._input.value = json.dumps([{"sepal": 1.0}])
    panel._predict.click()
    assert panel.message == ("error: iris: missing columns sepal length (cm), sepal width (cm), "
                             "petal length (cm), petal width (cm); unexpected: sepal")
    panel.close()


def test_run_rows_link_to_the_mlflow_ui_when_it_runs(home, ping_server):
    # tracking on (a real MLflow SQLite store); a ping server stands in for the UI service
    ws = ctcd.Workspace(home, namespace={}, tracking=True)
    old = ctcd.set_workspace(ws)
    try:
        run = Pipeline("ct", [Step("s", "x = 1")]).run()
        view = RunsView(poll=False)
        assert "open in MLflow" not in text(rows(view)[run.id])  # no UI: no dead link
        ui = ctcd.LocalDaemonService("mlflow-ui", [sys.executable, str(ping_server), "{host}",
                                                   "{port}"], health_path="/ping").start()
        view.refresh()
        from mlflow.tracking import MlflowClient

        experiment = MlflowClient(ws.tracker.uri).get_run(run.mlflow_run_id).info.experiment_id
        link = f"{ui.base_url}/#/experiments/{experiment}/runs/{run.mlflow_run_id}"
        assert link in text(rows(view)[run.id])
        buttons(rows(view)[run.id])["details"].click()
        assert link in view._detail.value and "open in MLflow" in view._detail.value
        view.close()
    finally:
        ctcd.set_workspace(old)
        ws.close()
