"""`ServicesPanel` with real model servers: the predict box never sends to another service than
the one shown, the serving history has one row shape in every view and follows deployments, a
follower that cannot follow is shown as a warning in its row, and a log follows its service."""

from __future__ import annotations

import contextlib
import json
import sys
import time
import urllib.error
import urllib.request

import pytest
from conftest import buttons, eventually, rows, text

import ctcd_jupyter as ctcd
from ctcd_jupyter.views.history import history_row, history_rows, history_text
from ctcd_jupyter.views.json import service_json
from ctcd_jupyter.views.services import describe_text, services_table
from ctcd_jupyter.widgets import ServicesPanel


@pytest.fixture
def iris_model(workspace):
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True, as_frame=True)
    svc = ctcd.mlflow_deploy(LogisticRegression(max_iter=300).fit(X, y), "iris",
                             input_example=X.head(2))
    return svc, X, y


def test_predict_box_keeps_its_choice_and_offers_only_servers_that_answer(iris_model):
    iris, X, _ = iris_model
    alpha = ctcd.MLFlowDeploymentService("alpha", "models:/iris/1").start(progress=False)
    panel = ServicesPanel(poll=False)
    assert list(panel._target.options) == ["alpha", "iris"]
    panel._target.value = "iris"
    template = '[{"sepal length (cm)": 0.0'
    eventually(lambda: panel._input.value.startswith(template), 60)
    mine = json.dumps(X.head(2).to_dict("records"))
    panel._input.value = mine

    # a model server that cannot answer (registered, never started) is not offered, and a
    # refresh with a changed list keeps the choice and the user's input
    ctcd.MLFlowDeploymentService("aardvark", "models:/iris/1")
    panel.refresh()
    assert "aardvark" in rows(panel) and list(panel._target.options) == ["alpha", "iris"]
    assert panel._target.value == "iris" and panel._input.value == mine

    # the chosen one stops answering: its payload goes with it, and the panel says so
    iris.stop()
    panel.refresh()
    assert list(panel._target.options) == ["alpha"] and panel._target.value == "alpha"
    assert panel._input.value != mine
    assert panel.message == ("iris no longer answers: the predict box now sends to alpha "
                             "(your input was cleared: it was written for iris)")
    eventually(lambda: panel._input.value.startswith(template), 60)
    panel._predict.click()
    assert panel.message == "alpha: 1 prediction(s)" and "answered by v1" in panel._result.value

    alpha.stop()
    panel.refresh()
    assert list(panel._target.options) == [] and panel._input.value == ""
    assert panel.message == "alpha no longer answers; no model server can predict now"
    assert panel._input.layout.display == "none"
    panel.close()


def test_history_rows_are_one_shape_in_every_view_and_the_widget_follows(iris_model):
    iris, X, y = iris_model
    from sklearn.linear_model import LogisticRegression

    ctcd.mlflow_deploy(LogisticRegression(max_iter=300, C=0.5).fit(X, y), "iris",
                       input_example=X.head(2))
    entries = iris.history()
    rows_ = history_rows(entries)
    assert [(r["version"], r["why"], r["live"]) for r in rows_] == [
        ("2", "deployed", True), ("1", entries[0]["why"], False)]
    assert set(rows_[0]) == {"version", "uri", "why", "detail", "since", "until", "live", "tone"}
    assert rows_[0] == history_row(entries[-1]) and rows_[1]["until"] == rows_[0]["since"]
    # the JSON (REST, CLI --json, side panel) carries the same rows, and what serves now
    data = service_json(iris, detail=True)
    assert data["history"] == rows_ and data["serving"] == rows_[0]
    assert service_json(iris)["serving"] == rows_[0]
    assert "v2 deployed" in history_text(entries, time.time())
    assert "history:" in describe_text(iris) and "v2 deployed" in describe_text(iris)

    panel = ServicesPanel(poll=False)
    buttons(rows(panel)["iris"])["history"].click()
    shown = panel._detail.value
    assert "<b>v2</b>" in shown and "serving now" in shown and "<b>v1</b>" in shown
    assert shown.count("<tr>") == 3  # a header and one row per version served
    iris.rollback()  # a new row: the shown history follows at the next poll
    assert panel.poll_once()
    assert panel._detail.value.count("<tr>") == 4 and "rolled back" in panel._detail.value
    buttons(rows(panel)["iris"])["history"].click()  # a second click hides it
    assert panel._detail.value == ""
    panel.close()


def test_a_follower_that_cannot_follow_shows_its_warning_in_the_row(iris_model):
    iris, _, _ = iris_model
    from mlflow.tracking import MlflowClient

    MlflowClient(iris.config["tracking_uri"]).delete_registered_model("iris")
    eventually(lambda: iris.status.value == "ACTIVE" and iris.last_error, 60)
    panel = ServicesPanel(poll=False)
    row = text(rows(panel)["iris"])
    first = iris.last_error.strip().splitlines()[0]
    assert "ACTIVE (not following)" in row and "⚠" in row and "var(--jp-warn-color1" in row
    assert first[:40] in row.replace("&#x27;", "'").replace("&quot;", '"')
    assert "ACTIVE (not following)" in services_table([iris])
    data = service_json(iris)
    assert data["status"] == "ACTIVE" and data["last_error"] and data["tone"] == "warn"
    panel.close()


def test_a_log_opens_at_its_newest_line_and_follows(workspace, ping_server):
    web = ctcd.LocalDaemonService("web", [sys.executable, str(ping_server), "{host}", "{port}"],
                                  health_path="/ping").start()
    panel = ServicesPanel(poll=False)
    buttons(rows(panel)["web"])["logs"].click()
    shown = panel._logs.value
    # anchored at its end by the browser: the newest line is what shows first
    assert "flex-direction:column-reverse" in shown and "serving" in shown
    assert panel._logs.layout.display is None
    with contextlib.suppress(urllib.error.HTTPError):  # a 404, logged like any request
        urllib.request.urlopen(f"{web.endpoint.rstrip('/')}/a-new-line", timeout=10).close()
    eventually(lambda: "a-new-line" in web.logs(tail=20), 10)
    panel.poll_once()  # no store change: the log follows anyway
    assert "a-new-line" in panel._logs.value
    buttons(rows(panel)["web"])["logs"].click()
    assert panel._logs.layout.display == "none"
    web.stop()
    panel.close()


def test_a_pinned_service_says_so_in_every_view_and_unpins(iris_model):
    iris, X, y = iris_model
    from sklearn.linear_model import LogisticRegression

    ctcd.mlflow_deploy(LogisticRegression(max_iter=300, C=0.5).fit(X, y), "iris",
                       input_example=X.head(2))
    iris.rollback()  # pins v1
    assert iris.pinned and iris.pinned["version"] == "1"
    assert service_json(iris)["pinned"]["version"] == "1"
    assert "(pinned v1)" in services_table([iris]) and "pinned: pinned v1" in describe_text(iris)
    panel = ServicesPanel(poll=False)
    row = rows(panel)["iris"]
    assert "pinned v1" in text(row) and buttons(row)["unpin"].layout.display is None
    buttons(row)["unpin"].click()
    panel.wait_idle(60)
    assert iris.pinned is None and panel.message.startswith("iris: unpinned")
    assert "pinned" not in text(row) and buttons(row)["unpin"].layout.display == "none"
    panel.close()


def test_the_runs_views_relative_times_tick_without_a_store_change(workspace):
    from ctcd_jupyter.engine.run import Run, RunState
    from ctcd_jupyter.engine.run_store import save_run
    from ctcd_jupyter.widgets import RunsView

    now = time.time()
    run = Run(id="r1", pipeline="p", status=RunState.SUCCEEDED, started_at=now - 9.5,
              finished_at=now - 9.4)
    save_run(workspace.store, run)
    view = RunsView(poll=False)
    assert "just now" in text(rows(view)["r1"])
    token = workspace.store.change_token("runs", "deployments", "serving_history")
    # nothing is written: the view refreshes because "just now" would now read "10s ago"
    eventually(view.poll_once, 5)
    assert "10s ago" in text(rows(view)["r1"]) or "11s ago" in text(rows(view)["r1"])
    assert workspace.store.change_token("runs", "deployments", "serving_history") == token
    view.close()
