"""The side panel's Monitor tab in a real browser against a real `jupyter lab`: a model served
with a stored reference, traffic whose first feature drifts, the tab opened from the service's
"monitor" button; its charts are drawn by JupyterLab's own Vega-Lite renderer, in the light
theme, then in the dark one after a reload (the tab is restored)."""

from __future__ import annotations

import pandas as pd
import pytest
import requests
from sklearn.linear_model import LogisticRegression

import ctcd_jupyter as ctcd
from ctcd_jupyter.datasource import drifting_classification, feature_names

PANEL = "#ctcd-panel"
TAB = "#ctcd-monitor-watched"


@pytest.fixture(scope="module")
def watched(lab_home):
    columns = feature_names()

    def frame(X):
        return pd.DataFrame(X, columns=columns)

    X_train, X_test, y_train, _ = drifting_classification(0, 2000, seed=1)
    model = LogisticRegression(max_iter=300).fit(frame(X_train), y_train)
    svc = ctcd.mlflow_deploy(model, "watched", metrics={"acc": 0.9},
                             input_example=frame(X_test[:2]), reference=frame(X_train))
    session = requests.Session()
    for run, shift in ((1, 0.0), (5, 0.8)):
        X = drifting_classification(run, 800, seed=run, feature_shift=shift)[0]
        for start in range(0, len(X), 20):
            body = {"dataframe_split": frame(X[start:start + 20]).to_dict(orient="split",
                                                                          index=False)}
            assert session.post(svc.endpoint, json=body, timeout=30).status_code == 200
    yield svc
    svc.stop()


def _charts_drawn(page) -> None:
    from playwright.sync_api import expect

    tab = page.locator(TAB)
    expect(tab.locator(".ctcd-monitor-table")).to_contain_text("v1", timeout=60_000)
    charts = tab.locator(".ctcd-chart")
    expect(charts.first).to_be_visible(timeout=60_000)
    assert charts.count() >= 4  # traffic, accuracy, x0 and the predictions at least
    # every chart is drawn by Vega (a canvas or an svg with marks), not left empty
    page.wait_for_function(
        f"[...document.querySelectorAll('{TAB} .ctcd-chart')].every("
        "c => c.querySelector('canvas, svg.marks'))", timeout=60_000)
    expect(tab.locator('.ctcd-chart[data-title^="v1: x0"]')).to_have_count(1)


def test_the_monitor_tab_draws_the_charts_in_light_and_dark(lab, browser, watched,
                                                            screenshots):
    from playwright.sync_api import expect

    lab.put_setting("@jupyterlab/apputils-extension:themes", {"theme": "JupyterLab Light"})
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.goto(lab.url)
    page.locator('li[data-id="ctcd-panel"]').click(timeout=60_000)
    row = page.locator(f'{PANEL} .ctcd-services .ctcd-row[data-name="watched"]')
    expect(row.locator(".ctcd-status")).to_have_text("ACTIVE", timeout=60_000)
    row.get_by_role("button", name="monitor").click()
    _charts_drawn(page)
    expect(page.locator(TAB)).to_contain_text("DRIFT")
    expect(page.locator(TAB)).to_contain_text("x0: drift")
    page.screenshot(path=str(screenshots / "light-monitor.png"))
    lab.wait_saved("ctcd-monitor:watched")
    page.close()

    lab.put_setting("@jupyterlab/apputils-extension:themes", {"theme": "JupyterLab Dark"})
    page = browser.new_page(viewport={"width": 1500, "height": 1000})
    page.goto(lab.url)
    expect(page.locator("body")).to_have_attribute("data-jp-theme-light", "false",
                                                   timeout=60_000)
    page.locator(".lm-TabBar-tab").filter(has_text="Monitor watched").click(timeout=60_000)
    _charts_drawn(page)
    page.screenshot(path=str(screenshots / "dark-monitor.png"))
    page.close()
