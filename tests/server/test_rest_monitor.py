"""GET /ctcd/api/services/NAME/monitor on a real Jupyter server: the monitor report of a real
served model and its Vega-Lite charts (what the side panel's Monitor tab draws)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import requests
from sklearn.linear_model import LogisticRegression
from tornado.httpclient import HTTPClientError

import ctcd_jupyter as ctcd
from ctcd_jupyter.datasource import drifting_classification, feature_names


@pytest.fixture
def deployed(workspace):
    X_train, X_test, y_train, _ = drifting_classification(0, 1000, seed=1)
    columns = feature_names()
    model = LogisticRegression(max_iter=300).fit(pd.DataFrame(X_train, columns=columns), y_train)
    svc = ctcd.mlflow_deploy(model, "watched", metrics={"acc": 0.9},
                             input_example=pd.DataFrame(X_test[:2], columns=columns),
                             reference=pd.DataFrame(X_train, columns=columns))
    rows = pd.DataFrame(X_test, columns=columns)
    body = {"dataframe_split": rows.to_dict(orient="split", index=False)}
    assert requests.post(svc.endpoint, json=body, timeout=30).status_code == 200
    yield svc
    svc.stop()


async def test_the_monitor_route_answers_the_report_and_its_charts(jp_fetch, deployed):
    response = await jp_fetch("ctcd", "api", "services", "watched", "monitor",
                              params={"window": "30m"})
    data = json.loads(response.body)
    assert data["service"] == "watched" and data["report"]["window_s"] == 1800
    [version] = data["report"]["versions"]
    assert version["requests"] == 250
    assert version["reference"].startswith("stored with the model version")
    titles = [c["title"] for c in data["charts"]]
    assert "v1: requests and errors" in titles and "live accuracy per version" in titles
    assert all(c["spec"]["$schema"].endswith("vega-lite/v5.json") for c in data["charts"])


async def test_the_monitor_route_refuses_unknown_services_and_bad_windows(jp_fetch, deployed):
    for name, params, code, says in (("wached", {}, 404, "did you mean 'watched'"),
                                     ("watched", {"window": "soon"}, 400, "window must be")):
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("ctcd", "api", "services", name, "monitor", params=params)
        assert info.value.code == code
        assert says in json.loads(info.value.response.body)["error"]
